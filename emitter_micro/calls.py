"""The sync client's calls a device may never make, loaded with the first (core.Core.__getattr__): a
device that only publishes and subscribes never loads this, nor the modules these calls import on first use."""
import time


class Calls:
    """Group subscriptions, unsubscribe, requests to the broker and flush: methods of client.Emitter once
    first asked for."""

    def subscribe_with_group(self, key, channel, group, handler=None):
        """Subscribe as a member of share group: each message goes to one member."""
        from .receive import subscribe
        from .subtopics import group_topic
        subscribe(self, *group_topic(key, channel, group), handler)

    def unsubscribe(self, key, channel):
        """Unsubscribe from channel, whatever options it was subscribed with."""
        from .mqtt import UNSUBSCRIBE
        from .receive import ack
        from .subscriptions import of
        from .subtopics import matching
        self._not_nested()
        subs = of(self)
        topics = matching(subs, key, channel)
        for t in topics:
            subs.drop(t)
        for t in topics:
            if self.connected:
                try:
                    ack(self, UNSUBSCRIBE, t)
                except Exception as e:
                    self._down(e)

    def _ask(self, op, args, timeout_ms):
        from .requests import ask
        return ask(self, op, args, timeout_ms)

    def presence(self, key, channel, status=True, changes=True, timeout_ms=None):
        """Ask who is on channel (status) and/or follow joins and leaves (changes)."""
        return self._ask("presence", (key, channel, status, changes), timeout_ms)

    def keygen(self, key, channel, permissions="rw", ttl=0, timeout_ms=None):
        """Make a key for channel from the secret (or an extend key)."""
        return self._ask("keygen", (key, channel, permissions, ttl), timeout_ms)

    def me(self, timeout_ms=None):
        """This connection's id and links."""
        return self._ask("me", (), timeout_ms)

    def keyban(self, secret, target, banned=True, timeout_ms=None):
        """Ban (or unban) key target; needs the secret."""
        return self._ask("keyban", (secret, target, banned), timeout_ms)

    def link(self, key, channel, name, subscribe=True, timeout_ms=None):
        """Make name (1-2 alphanumerics) a shortcut for channel; subscribe=True also subscribes."""
        return self._ask("link", (key, channel, name, subscribe), timeout_ms)

    def history(self, key, channel, last=1, since=None, until=None, timeout_ms=None):
        """Stored messages of channel: the last N, or those in a time window."""
        return self._ask("history", (key, channel, last, since, until), timeout_ms)

    def publish_with_link(self, name, message, qos=0, retain=False):
        """Publish message through link name."""
        from .mqtt import wire
        from .requests import link_publish
        t, msg = link_publish(name, message)
        self._send(wire(t), msg, qos, retain)

    def flush(self, timeout_ms):
        """Drive the loop until the queue is empty: True, or False on timeout."""
        end = time.ticks_add(time.ticks_ms(), timeout_ms)
        while self.pending():
            left = time.ticks_diff(end, time.ticks_ms())
            if left <= 0:
                return False
            if self.connected:
                from .resilience import drain
                drain(self)
            self.loop(min(left, 100) if self.pending() else 0)
        return True
