"""The asyncio client's calls (the sync client's names and arguments, as coroutines; aiowaits.py waits for
their acks and answers), and how a publish is written or queued."""
import errno
import time

import asyncio
from micropython import const

from . import mqtt
from .aiowaits import LOST, within

_BEHIND = const(4096)  # bytes the socket has not taken yet before a QoS 0 publish waits its turn


def _yield():
    # MicroPython's sleep_ms(0) is one generator reused by every call: awaiting it allocates nothing.
    return asyncio.sleep_ms(0) if hasattr(asyncio, "sleep_ms") else asyncio.sleep(0)


async def _raise(e):
    raise e


async def shut(w):
    """Close a stream, waiting at most a second."""
    try:
        w.close()
        await within(w.wait_closed(), 1000)
    except Exception:
        pass


class Calls:
    """The calls that wait for the broker; aio.Emitter inherits them."""

    def messages(self):
        """An async iterator over the messages no handler takes, in order (bounded by message_queue)."""
        return _Messages(self)

    def publish(self, key, channel, message, ttl=None, qos=0, retain=False, me=True):
        """Publish message to channel (await it); qos=1 returns once acked (queued, returning at once, while the
        link is down)."""
        try:
            return self._send(self._topic(key, channel, ttl, me), mqtt.payload(message), qos, retain)
        except Exception as e:
            return _raise(e)  # raised where it is awaited, as from a coroutine

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
        from .subscriptions import group_topic
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
                from .message import EmitterError
                raise EmitterError(a[2] or {"status": 0, "message": "subscription refused", "req": 0})

    async def unsubscribe(self, key, channel):
        """Unsubscribe from channel, whatever options it was subscribed with."""
        from .subscriptions import of
        subs = of(self)
        topics = subs.matching(key, channel)
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
        from .requests import wait_answer  # with the first request: its code loads then
        return await wait_answer(self, op, args, timeout_ms)

    async def flush(self, timeout_ms):
        """Wait until every queued publish is acknowledged: True, or False on timeout."""
        end = time.ticks_add(time.ticks_ms(), timeout_ms)
        while self.pending():
            if time.ticks_diff(end, time.ticks_ms()) <= 0:
                return False
            await asyncio.sleep(0.02)
        return True

    def pending(self):
        """Publishes not yet acknowledged that wait for the link: queued, or sent from the queue."""
        n = self._queue.count() if self._queue else 0
        for a in self._acks.values():
            if a[0] is None:
                n += 1
        return n

    async def disconnect(self):
        """Close the connection cleanly; no reconnect after it."""
        self._closed = self._over = True
        if self.connected:
            self._put(mqtt.DISCONNECT, 2)
            end = time.ticks_add(time.ticks_ms(), 1000)
            while self._tx_at is not None and self._w and time.ticks_diff(end, time.ticks_ms()) > 0:
                await asyncio.sleep(0.01)
        cur = asyncio.current_task()
        for t in (self._task, self._rd, self._wr):
            if t is not None and t is not cur:
                t.cancel()
        self._task = self._rd = self._wr = self._sock = None
        w, self._w = self._w, None
        self._fail()
        self.up.clear()
        if self._new:
            self._new.set()
        if self.connected:
            self.connected = False
            self._emit("disconnect")
        if w:
            await shut(w)

    # --- sending and waiting ------------------------------------------------------------
    def _write(self, t, msg, qos, retain, pid):
        """A PUBLISH: head and payload in the reused buffer where they fit, else the payload after it."""
        b = self._buf
        if len(t) + 8 > len(b):
            b = self._buf = bytearray(len(t) + 8)
        i = mqtt.publish(b, t, qos, retain, pid, len(msg))
        k = i + len(msg)
        if k <= len(b):
            b[i:k] = msg
            self._put(b, k)
        else:
            self._put(b, i)
            self._put(msg, len(msg))

    def _again(self, entries):
        """Put publishes sent but not acknowledged back in front of the queue, in order."""
        from .resilience import backlog
        backlog(self).push_front(entries)

    def _send(self, t, msg, qos=0, retain=False):
        """What publish() returns: written at once where the link takes it (QoS 0: then a yield that
        allocates nothing on MicroPython), else a coroutine that waits (for the socket, or the PUBACK)."""
        self._valid(t, msg, qos)
        queued = not self.connected or self._queue
        if queued:
            if self._over or not self.connected and not self.reconnect:
                raise OSError(errno.ENOTCONN)
        elif not qos and not (self._sock is not None and len(self._w.out_buf) > _BEHIND):
            self._write(t, msg, 0, retain, 0)
            return _yield()
        # With the store, a QoS 1 publish is in it from here until its PUBACK (aio.py's _packet).
        rid = self._store.keep(self, t, msg, 1, retain) if qos and self._store else None
        if queued:
            from .resilience import enqueue
            enqueue(self, t, msg, qos, retain, rid)
            self._wake.set()
            return _yield()
        return self._sent_later(t, msg, qos, retain, rid)

    async def _sent_later(self, t, msg, qos, retain, rid):
        w = self._w
        while self._sock is not None and w is self._w and len(w.out_buf) > _BEHIND:
            await asyncio.sleep_ms(10)  # the socket is behind: wait for it, never pile up
        if not self.connected:
            from .resilience import enqueue
            enqueue(self, t, msg, qos, retain, rid)
            return
        if not qos:
            self._write(t, msg, 0, retain, 0)
            return
        pid = self._free_pid()
        a = self._expect(pid, mqtt.PUBACK, asyncio.Event(), (t, msg, qos, retain, rid))
        self._write(t, msg, 1, retain, pid)
        try:
            await self._until(a)
            if a[1] is LOST and self._over:
                raise OSError(errno.ENOTCONN)  # the link went and will not come back: not sent
        except Exception:
            self._forget(rid)  # raised to the caller: not kept
            raise
        if a[2]:
            from .message import EmitterError
            raise EmitterError(a[2])  # refused by the broker (it acks anyway)

    def _send_queue(self):
        """Send what waits in the queue: QoS 1 entries stay pending until acknowledged."""
        q = self._queue
        while q.count() and self.connected and not (self._sock is not None and self._w.out_buf):
            e = q.pop()
            pid = 0
            if e[2]:
                pid = self._free_pid()
                self._expect(pid, mqtt.PUBACK, None, e)
            self._write(e[0], e[1], e[2], e[3], pid)
            if not e[2]:
                self._forget(e[4])  # a QoS 0 entry: written out, its record goes
        if not q.count():
            self._queue = None

    def _check(self):
        """Keepalive and half-open detection; return the ms until the next check."""
        now = time.ticks_ms()
        ms = int(self.timeout * 1000)
        # Dead: a ping unanswered with nothing heard meanwhile, or a packet stuck halfway either way.
        heard = time.ticks_diff(now, self._got) > ms
        for t0 in (self._ping_at if heard else None, self._rx_at, self._tx_at):
            if t0 is not None and time.ticks_diff(now, t0) > ms:
                self._dead(OSError(errno.ETIMEDOUT))
                return 0
        if self._ping_at is not None:
            return min(ms - time.ticks_diff(now, self._ping_at) + 1, ms // 2)
        # Something must be heard within keepalive both ways: a link that only sends is checked too.
        idle = max(time.ticks_diff(now, self._sent), time.ticks_diff(now, self._got))
        ka = self.keepalive * 1000
        if idle < ka:
            return min(ka - idle, ms // 2)
        self._ping_at = now
        self._put(mqtt.PINGREQ, 2)
        return ms // 2


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
