"""emitter_micro: an Emitter (emitter.io) client for MicroPython, on umqtt.simple.

`import emitter_micro` loads no client: the sync one (client.py, on umqtt.simple) comes with the first
use of Emitter or connect(), the asyncio one with `from emitter_micro import aio`; EmitterMessage
(subscriptions.py) and EmitterError (requests.py) with their first use, which a publish-only device never makes.
"""


def connect(options=None):
    """Connect to an Emitter broker and return the Emitter instance."""
    from .client import Emitter
    return Emitter(options).connect()


def __getattr__(name):
    # A name on first use, kept: nothing a device does not use takes its heap.
    if name == "Emitter":
        from .client import Emitter as v
    elif name == "EmitterMessage":
        from .subscriptions import EmitterMessage as v
    elif name == "EmitterError":
        from .requests import EmitterError as v
    else:
        # MicroPython's `from . import X` looks X up here before it imports it: a submodule.
        __import__("emitter_micro." + name)
        return globals()[name]
    globals()[name] = v
    return v
