"""What comes from the broker: EmitterMessage for what a subscription gets, EmitterError for its refusals.
Loaded by a device that subscribes or asks (a publish-only one never does)."""
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

