"""The asyncio client's calls (the sync client's names and arguments, as coroutines) and their waits.

Each call lets the sync code build what it sends (validation, topic, request
body) against a Capture, which records instead of sending; aio.py sends it.
"""
import errno  # error numbers differ by port (ESP32: ETIMEDOUT 116, not 110): never hard-coded
import time

import asyncio
from micropython import const

from . import EmitterError
from . import topic as T
from .aiowire import EXPIRED, LOST, PUBACK, pid_packet, publish_packet, within
from .message import payload
from .resilience import enqueue
from .subscriptions import _routing

_OUT_MAX = const(16)  # packets waiting for the writer before a QoS 0 publish waits its turn


class Capture:
    """Stands in for the client while sync code builds a call: what it would send, or subscribe to."""

    connected = False
    _subs = _rx = None

    def _send(self, t, msg, qos=0, retain=False):
        self.t, self.msg, self.qos, self.retain = t, msg, qos, retain

    def _not_nested(self):
        pass


class Calls:
    """The calls that wait for the broker; aio.Emitter inherits them."""

    _apub = (None,) * 5  # the last publish's key, channel, ttl, me -> its topic

    async def publish(self, key, channel, message, ttl=None, qos=0, retain=False, me=True):
        """Publish message to channel; qos=1 returns once acked (queued, returning at once, while the link is down)."""
        p = self._apub  # a telemetry loop publishes to one topic: built once
        if key is not p[0] or channel is not p[1] or ttl != p[2] or me != p[3]:
            p = self._apub = (key, channel, ttl, me, T.build(key, T.channel(channel), T.options(ttl=ttl, me=me)))
        await self._send(p[4], payload(message), qos, retain)

    async def publish_with_link(self, name, message, qos=0, retain=False):
        """Publish message through link name."""
        from .requests import publish_with_link
        c = Capture()
        publish_with_link(c, name, message, qos, retain)
        await self._send(c.t, c.msg, c.qos, c.retain)

    async def subscribe(self, key, channel, last=None, since=None, until=None, handler=None):
        """Subscribe to channel; returns once the broker acked. handler gets its messages, else messages()."""
        from .subscriptions import subscribe
        await self._subscribe(subscribe, (key, channel, last, since, until, handler))

    async def subscribe_with_group(self, key, channel, group, handler=None):
        """Subscribe as a member of share group: each message goes to one member."""
        from .subscriptions import subscribe_with_group
        await self._subscribe(subscribe_with_group, (key, channel, group, handler))

    async def _subscribe(self, build, args):
        c = Capture()
        build(c, *args)  # subscriptions.py validates and builds the topic, recorded in c._subs
        for t in c._subs:
            v = c._subs[t]
        if self._subs is None:
            self._subs = {}
        # Recorded first: stored messages the broker replays arrive before the SUBACK.
        self._subs[t] = v
        _routing(self)
        if self.connected:
            try:
                await self._ack(0x82, t, b"\0")
            except EmitterError:
                if self._subs.get(t) is v:
                    del self._subs[t]
                    _routing(self)
                raise

    async def unsubscribe(self, key, channel):
        """Unsubscribe from channel, whatever options it was subscribed with."""
        from .subscriptions import unsubscribe
        subs = self._subs or {}
        c = Capture()
        c._subs = dict(subs)
        unsubscribe(c, key, channel)
        gone = [t for t in subs if t not in c._subs] or [T.build(key, T.channel(channel, T.SUBSCRIBE))]
        for t in gone:
            subs.pop(t, None)
        _routing(self)
        for t in gone:
            if self.connected:
                await self._ack(0xA2, t, b"")

    async def presence(self, key, channel, status=True, changes=True, timeout_ms=None):
        """Who is on channel (status); changes=True also follows joins and leaves (the 'presence' event)."""
        from .requests import presence
        return await self._request(presence, (key, channel, status, changes), timeout_ms)

    async def keygen(self, key, channel, permissions="rw", ttl=0, timeout_ms=None):
        """Make a key for channel from the secret (or an extend key)."""
        from .requests import keygen
        return await self._request(keygen, (key, channel, permissions, ttl), timeout_ms)

    async def me(self, timeout_ms=None):
        """This connection's id and links."""
        from .requests import me
        return await self._request(me, (), timeout_ms)

    async def keyban(self, secret, target, banned=True, timeout_ms=None):
        """Ban (or unban) key target; needs the secret."""
        from .requests import keyban
        return await self._request(keyban, (secret, target, banned), timeout_ms)

    async def link(self, key, channel, name, subscribe=True, timeout_ms=None):
        """Make name (1-2 alphanumerics) a shortcut for channel; subscribe=True also subscribes."""
        from .requests import link
        return await self._request(link, (key, channel, name, subscribe), timeout_ms)

    async def history(self, key, channel, last=1, since=None, until=None, timeout_ms=None):
        """Stored messages of channel: the last N, or those in a time window."""
        from .requests import history
        return await self._request(history, (key, channel, last, since, until), timeout_ms)

    async def flush(self, timeout_ms):
        """Wait until every queued publish is acknowledged: True, or False on timeout."""
        end = time.ticks_add(time.ticks_ms(), timeout_ms)
        while self.pending():
            if time.ticks_diff(end, time.ticks_ms()) <= 0:
                return False
            await asyncio.sleep(0.02)
        return True

    # --- waits for the broker -------------------------------------------------------
    def _next(self):
        p = self._pid
        while True:
            p = p % 65535 + 1
            if p not in self._acks:
                self._pid = p
                return p

    def _expire(self):
        """End the waits past their deadline (EXPIRED); return the ms until the next deadline."""
        now = time.ticks_ms()
        nap = 60000
        for pid in list(self._acks):
            a = self._acks[pid]
            if a[5] is not None:
                left = time.ticks_diff(a[5], now)
                if left <= 0 and self._rx_at is not None:
                    a[5] = time.ticks_add(now, 200)  # a packet is arriving: the answer may be behind it
                    left = 200
                if left <= 0:
                    del self._acks[pid]
                    a[1] = EXPIRED
                    a[0].set()
                    self._suspect()
                elif left < nap:
                    nap = left
        return nap

    def _suspect(self):
        """An answer did not come in time: ping now, the link may be half-open."""
        if self.connected and self._ping_at is None:
            self._got = time.ticks_add(time.ticks_ms(), -self.keepalive * 1000)
            self._wake.set()

    async def _wait(self, pid, packet, kind, ms=None, redo=None):
        """Send packet (id pid) and wait for its ack (or answer), up to ms from when it is written out;
        OSError(ETIMEDOUT) when the link task expires it."""
        a = self._acks[pid] = [asyncio.Event(), None, None, kind, redo, None, ms or int(self.timeout * 1000)]
        self._put(packet, a)
        await a[0].wait()
        if a[1] is EXPIRED:
            raise OSError(errno.ETIMEDOUT)
        return a

    def _publish(self, t, msg, qos, retain):
        """Send a publish from the queue: acknowledged later, sent again if the link goes first."""
        pid = 0
        if qos:
            pid = self._next()
            self._acks[pid] = [None, None, None, PUBACK, (t, msg, qos, retain), None, 0]
        self._put(publish_packet(t, msg, qos, retain, pid))

    def _queue(self, t, msg, qos, retain):
        enqueue(self, t, msg, qos, retain)  # _until stays None here: acks are awaited by their tasks

    async def _send(self, t, msg, qos=0, retain=False):
        if qos not in (0, 1):
            raise ValueError("qos must be 0 or 1")
        if 2 + 2 * qos + len(t) + len(msg) > T.MAX_PACKET:
            raise ValueError("message too large: %d bytes; a packet takes %d with the topic" % (len(msg), T.MAX_PACKET))
        while self.connected and not qos and len(self._out) >= _OUT_MAX:
            await asyncio.sleep(0.01)  # the writer is behind: wait for it, never pile up
        if not self.connected or self._backlog:
            self._queue(t, msg, qos, retain)
            return
        if not qos:
            self._put(publish_packet(t, msg, 0, retain, 0))
            await asyncio.sleep(0)
            return
        pid = self._next()
        a = await self._wait(pid, publish_packet(t, msg, 1, retain, pid), PUBACK, None, (t, msg, qos, retain))
        if a[1] is LOST and self._over:
            raise OSError(errno.ENOTCONN)  # the link went and will not come back: not sent
        if a[2]:
            raise EmitterError(a[2])  # refused by the broker (it acks anyway)

    async def _ack(self, kind, t, data):
        """SUBSCRIBE or UNSUBSCRIBE t and wait for its ack; EmitterError if the broker refused it."""
        pid = self._next()
        a = await self._wait(pid, pid_packet(kind, pid, t, data), kind + 0x0E)
        if a[1] is not LOST and (a[2] or a[1][2:] == b"\x80"):
            raise EmitterError(a[2] or {"status": 0, "message": "subscription refused", "req": pid})

    async def _request(self, build, args, timeout_ms):
        """Publish the request requests.py builds at QoS 1 and return its answer (the broker echoes the id as req)."""
        from .requests import _failed
        cap = Capture()
        build(cap, *args)
        ms = timeout_ms or int(self.timeout * 1000)
        end = time.ticks_add(time.ticks_ms(), ms)
        while True:
            left = time.ticks_diff(end, time.ticks_ms())
            if self._over or not self.connected and not self.reconnect:
                raise OSError(errno.ENOTCONN)
            if left <= 0:
                raise OSError(errno.ETIMEDOUT)
            if not self.connected:
                await within(self.up.wait(), left)
                continue
            pid = self._next()
            a = await self._wait(pid, publish_packet(cap.t, cap.msg, 1, False, pid), None, left)
            if a[1] is not LOST:
                if _failed(a[1]):
                    raise EmitterError(a[1])
                return a[1]
            # The link went before the answer: ask again on the next one.
