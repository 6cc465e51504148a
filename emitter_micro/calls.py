"""The Emitter calls whose code lives in modules imported on first use: a publish-only device never loads it."""


class Calls:
    """Subscriptions, requests to the broker and flush; Emitter inherits them."""

    def subscribe(self, key, channel, last=None, since=None, until=None, handler=None):
        """Subscribe to channel (options: replay the last N, or a time window); handler gets its messages."""
        from .subscriptions import subscribe
        subscribe(self, key, channel, last, since, until, handler)

    def subscribe_with_group(self, key, channel, group, handler=None):
        """Subscribe as a member of share group: each message goes to one member."""
        from .subscriptions import subscribe_with_group
        subscribe_with_group(self, key, channel, group, handler)

    def unsubscribe(self, key, channel):
        """Unsubscribe from channel, whatever options it was subscribed with."""
        from .subscriptions import unsubscribe
        unsubscribe(self, key, channel)

    def presence(self, key, channel, status=True, changes=True, timeout_ms=None):
        """Ask who is on channel (status) and/or follow joins and leaves (changes)."""
        from .requests import presence
        return presence(self, key, channel, status, changes, timeout_ms)

    def keygen(self, key, channel, permissions="rw", ttl=0, timeout_ms=None):
        """Make a key for channel from the secret (or an extend key)."""
        from .requests import keygen
        return keygen(self, key, channel, permissions, ttl, timeout_ms)

    def me(self, timeout_ms=None):
        """This connection's id and links."""
        from .requests import me
        return me(self, timeout_ms)

    def keyban(self, secret, target, banned=True, timeout_ms=None):
        """Ban (or unban) key target; needs the secret."""
        from .requests import keyban
        return keyban(self, secret, target, banned, timeout_ms)

    def link(self, key, channel, name, subscribe=True, timeout_ms=None):
        """Make name (1-2 alphanumerics) a shortcut for channel; subscribe=True also subscribes."""
        from .requests import link
        return link(self, key, channel, name, subscribe, timeout_ms)

    def publish_with_link(self, name, message, qos=0, retain=False):
        """Publish message through link name."""
        from .requests import publish_with_link
        publish_with_link(self, name, message, qos, retain)

    def history(self, key, channel, last=1, since=None, until=None, timeout_ms=None):
        """Stored messages of channel: the last N, or those in a time window."""
        from .requests import history
        return history(self, key, channel, last, since, until, timeout_ms)

    def flush(self, timeout_ms):
        """Drive the loop until the queue is empty: True, or False on timeout."""
        from .resilience import flush
        return flush(self, timeout_ms)
