"""emitter_micro: an Emitter (emitter.io) client for MicroPython, on umqtt.simple."""
from .client import Emitter, EmitterError, EmitterMessage

__version__ = "0.1.0"


def connect(options=None):
    """Connect to an Emitter broker and return the Emitter instance."""
    return Emitter(options).connect()
