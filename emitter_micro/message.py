"""What crosses the link as data: payload() for a publish, EmitterMessage for what a subscription gets,
EmitterError for the broker's refusals."""
import json


class EmitterMessage:
    """A message received on a channel."""

    def __init__(self, channel, binary):
        self.channel = channel
        self.binary = binary

    def asString(self):
        return self.binary.decode()

    def asBinary(self):
        return self.binary

    def asObject(self):
        return json.loads(self.binary)


class EmitterError(Exception):
    """An error answer from the broker, with .status, .message and .req."""

    def __init__(self, answer):
        self.status = answer.get("status")
        self.message = answer.get("message")
        self.req = answer.get("req")
        super().__init__(self.status, self.message, self.req)


def payload(message):
    """The bytes to send for a message: str, bytes-like, or dict/list as JSON."""
    if isinstance(message, str):
        return message.encode()
    if isinstance(message, (bytes, bytearray, memoryview)):
        return message
    if isinstance(message, (dict, list)):
        return json.dumps(message).encode()
    raise TypeError("message must be str, bytes, bytearray, memoryview, dict or list")
