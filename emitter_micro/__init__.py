"""emitter_micro: an Emitter (emitter.io) client for MicroPython, on umqtt.simple.

`import emitter_micro` loads no client: the sync one (client.py, on umqtt.simple) comes with the first
use of Emitter or connect(), the asyncio one with `from emitter_micro import aio`.
"""
from .message import EmitterError, EmitterMessage


def connect(options=None):
    """Connect to an Emitter broker and return the Emitter instance."""
    from .client import Emitter
    return Emitter(options).connect()


def __getattr__(name):
    # The sync client, on first use: the asyncio one never loads it (nor umqtt.simple).
    if name == "Emitter":
        from .client import Emitter
        globals()["Emitter"] = Emitter
        return Emitter
    # MicroPython's `from . import X` looks X up here before it imports it: a submodule, on first use.
    __import__("emitter_micro." + name)
    return globals()[name]
