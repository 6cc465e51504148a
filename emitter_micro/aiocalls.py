"""The asyncio client's calls a device may never make (the sync client's names and arguments, as
coroutines), loaded with the first (core.Core.__getattr__); aiosend.py waits for their acks and answers."""
import errno
import time

import asyncio

from . import mqtt
from .aiosend import LOST, _raise, flag, within


class Calls:
    """Subscriptions, requests to the broker, messages() and flush: methods of aio.Emitter once first asked for."""
    def loop(self, timeout_ms=0):
        raise RuntimeError("the asyncio client's link task runs the loop")

    def messages(self):
        """An async iterator over the messages no handler takes, in order (bounded by message_queue)."""
        return _Messages(self)

    def publish_with_link(self, name, message, qos=0, retain=False):
        """Publish message through link name (await it)."""
        from .requests import link_publish
        try:
            t, msg = link_publish(name, message)
            return self._send(mqtt.wire(t), msg, qos, retain)
        except Exception as e:
            return _raise(e)

    async def subscribe(self, key, channel, last=None, since=None, until=None, handler=None):
        """Subscribe to channel; returns once the broker acked. handler gets its messages, else messages()."""
        from .subscriptions import topic
        await self._subscribe(*topic(key, channel, last, since, until), handler)

    async def subscribe_with_group(self, key, channel, group, handler=None):
        """Subscribe as a member of share group: each message goes to one member."""
        from .subtopics import group_topic
        await self._subscribe(*group_topic(key, channel, group), handler)

    async def _subscribe(self, t, ch, handler):
        from .subscriptions import of
        subs = of(self)
        subs.add(t, ch, handler)  # before the SUBSCRIBE: stored messages the broker replays come first
        if self.connected:
            a = await self._ack_wait(mqtt.SUBSCRIBE, t)
            if a[1] is not LOST and (a[2] or a[1] == 0x80):
                if subs.table.get(t, (0, 0))[1] is handler:
                    subs.drop(t)
                from .requests import EmitterError
                raise EmitterError(a[2] or {"status": 0, "message": "subscription refused", "req": 0})

    async def _ack_wait(self, kind, t):
        """SUBSCRIBE or UNSUBSCRIBE t and wait for its ack; the wait [.., ack code or LOST, error, ..]. Here: only
        a device that subscribed needs it (aio._open too, to send its subscriptions again)."""
        pid = self._free_pid()
        a = self._expect(pid, kind + 0x0E, flag())
        b = self._buf if len(t) + 8 <= len(self._buf) else bytearray(len(t) + 8)
        self._put(b, mqtt.subscription(b, kind, pid, t))
        return await self._until(a)

    async def unsubscribe(self, key, channel):
        """Unsubscribe from channel, whatever options it was subscribed with."""
        from .subscriptions import of
        from .subtopics import matching
        subs = of(self)
        topics = matching(subs, key, channel)
        for t in topics:
            subs.drop(t)
        for t in topics:
            if self.connected:
                await self._ack_wait(mqtt.UNSUBSCRIBE, t)

    async def presence(self, key, channel, status=True, changes=True, timeout_ms=None):
        """Who is on channel (status); changes=True also follows joins and leaves (the 'presence' event)."""
        return await self._request("presence", (key, channel, status, changes), timeout_ms)

    async def keygen(self, key, channel, permissions="rw", ttl=0, timeout_ms=None):
        """Make a key for channel from the secret (or an extend key)."""
        return await self._request("keygen", (key, channel, permissions, ttl), timeout_ms)

    async def me(self, timeout_ms=None):
        """This connection's id and links."""
        return await self._request("me", (), timeout_ms)

    async def keyban(self, secret, target, banned=True, timeout_ms=None):
        """Ban (or unban) key target; needs the secret."""
        return await self._request("keyban", (secret, target, banned), timeout_ms)

    async def link(self, key, channel, name, subscribe=True, timeout_ms=None):
        """Make name (1-2 alphanumerics) a shortcut for channel; subscribe=True also subscribes."""
        return await self._request("link", (key, channel, name, subscribe), timeout_ms)

    async def history(self, key, channel, last=1, since=None, until=None, timeout_ms=None):
        """Stored messages of channel: the last N, or those in a time window."""
        return await self._request("history", (key, channel, last, since, until), timeout_ms)

    async def _request(self, op, args, timeout_ms):
        """A request, published at QoS 1 (the broker echoes the packet id as req); its answer. Asked again
        on the next link if the link goes before the answer."""
        from .requests import answers, request, result  # with the first request: its code loads then
        t, msg = request(op, *args)
        t = mqtt.wire(t)
        asks = answers(self)
        end = time.ticks_add(time.ticks_ms(), timeout_ms or int(self.timeout * 1000))
        while True:
            left = time.ticks_diff(end, time.ticks_ms())
            if self._over or not self.connected and not self.reconnect:
                raise OSError(errno.ENOTCONN)
            if left <= 0:
                raise OSError(errno.ETIMEDOUT)
            if not self.connected:
                await within(self.up.wait(), left)
                continue
            pid = self._free_pid()
            w = asks.want(pid, flag())
            self._write(t, msg, 1, False, pid)
            try:
                await within(w[1].wait(), left)
            finally:
                asks.take(pid)
            if w[0] is not LOST:
                return result(w[0])

    async def flush(self, timeout_ms):
        """Wait until every queued publish is acknowledged: True, or False on timeout."""
        end = time.ticks_add(time.ticks_ms(), timeout_ms)
        while self.pending():
            if time.ticks_diff(end, time.ticks_ms()) <= 0:
                return False
            await asyncio.sleep(0.02)
        return True


class _Messages:
    def __init__(self, em):
        self.em = em

    def __aiter__(self):
        return self

    async def __anext__(self):
        em = self.em
        while not em.inbox:
            if em._over:
                raise StopAsyncIteration
            if em._new is None:
                em._new = asyncio.Event()
            em._new.clear()
            await em._new.wait()
        return em.inbox.pop(0)
