"""emitter_micro: an Emitter (emitter.io) client for MicroPython, on umqtt.simple."""


class EmitterError(Exception):
    """An error answer from the broker, with .status, .message and .req."""

    def __init__(self, answer):
        self.status = answer.get("status")
        self.message = answer.get("message")
        self.req = answer.get("req")
        super().__init__(self.status, self.message, self.req)


from .client import Emitter  # noqa: E402  (after EmitterError, which the modules import)
from .message import EmitterMessage  # noqa: E402


def connect(options=None):
    """Connect to an Emitter broker and return the Emitter instance."""
    return Emitter(options).connect()
