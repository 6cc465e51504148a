"""EmitterMessage: what a subscription gets. Loaded with the first message (a publish-only device never is);
the broker's refusals are requests.EmitterError."""
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

