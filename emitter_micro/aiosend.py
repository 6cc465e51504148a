"""How the asyncio client sends and waits: its CONNECT, a publish written at once or queued, the waits
for the socket and for acks and answers (registered by packet id in _acks, a request's answer in
requests.Answers; expired by the link task, ended with LOST when the link goes), the queue drained,
keepalive and half-open detection, disconnect."""
import errno
import struct
import time

import asyncio
from micropython import const

from . import mqtt

_BEHIND = const(4096)  # bytes the socket has not taken yet before a QoS 0 publish waits its turn

LOST = object()  # the answer of a wait whose link went down
EXPIRED = object()  # the answer of a wait that timed out

# MicroPython (its asyncio has sleep_ms): the client waits for its own socket (aionet.py); CPython: it
# uses asyncio's streams.
OWN_SOCKET = hasattr(asyncio, "sleep_ms")
_Flag = None if OWN_SOCKET else asyncio.Event  # MicroPython: aionet.Flag, looked up with the first wait


def sleep_ms(ms):
    # MicroPython's sleep_ms is one generator reused by every call: awaiting it allocates nothing.
    return asyncio.sleep_ms(ms) if OWN_SOCKET else asyncio.sleep(ms / 1000)


def flag():
    """What a wait for an ack or answer is woken by: an asyncio.Event, or on MicroPython aionet's Flag."""
    global _Flag
    if _Flag is None:
        from .aionet import Flag  # once: an import statement allocates at each call (16 B, 32-bit)
        _Flag = Flag
    return _Flag()


async def within(aw, ms):
    """aw, or OSError(ETIMEDOUT) after ms."""
    if OWN_SOCKET:
        from .aionet import timed  # MicroPython: without wait_for's module (aionet.py says why)
        return await timed(aw, ms)
    try:
        return await asyncio.wait_for(aw, ms / 1000)
    except asyncio.TimeoutError:
        raise OSError(errno.ETIMEDOUT)


def connect_packet(client_id, keepalive, will=None, user=None):
    """CONNECT with a clean session (the broker keeps none); will: (topic, message, retain). Here, not in
    mqtt.py: the sync client's CONNECT is umqtt.simple's, and a sync device need not load this."""
    parts = [client_id]
    flags = 2
    if will:
        flags |= 0x24 if will[2] else 4
        parts += will[:2]
    if user:
        flags |= 0x80
        parts.append(user)
    n = 10
    for p in parts:
        n += 2 + len(p)
    b = bytearray(n + 4)
    i = mqtt.header(b, 0x10, n)
    struct.pack_into("!H4sBBH", b, i, 4, b"MQTT", 4, flags, keepalive)
    i += 10
    for p in parts:
        struct.pack_into("!H", b, i, len(p))
        b[i + 2:i + 2 + len(p)] = p
        i += 2 + len(p)
    return memoryview(b)[:i]


async def _raise(e):
    raise e


async def shut(w):
    """Close the socket (MicroPython) or the stream (CPython, waiting at most a second)."""
    try:
        w.close()
        if not OWN_SOCKET:
            await within(w.wait_closed(), 1000)
    except Exception:
        pass


class Send:
    """What the publish path, the waits and the link task call; aio.Emitter inherits them."""
    def publish(self, key, channel, message, ttl=None, qos=0, retain=False, me=True):
        """Publish message to channel (await it); qos=1 returns once acked (queued, returning at once, while the
        link is down)."""
        try:
            return self._send(self._topic(key, channel, ttl, me), mqtt.payload(message), qos, retain)
        except Exception as e:
            return _raise(e)  # raised where it is awaited, as from a coroutine

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
            while self._wr is not None and time.ticks_diff(end, time.ticks_ms()) > 0:
                await asyncio.sleep(0.01)
        cur = asyncio.current_task()
        for t in (self._task, self._rd, self._wr):
            if t is not None and t is not cur:
                t.cancel()
        self._task = self._rd = self._wr = None
        w, self._w = self._w, None
        self._fail()
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
        elif not qos and len(self._out) <= _BEHIND:
            self._write(t, msg, 0, retain, 0)
            return sleep_ms(0)
        # With the store, a QoS 1 publish is in it from here until its PUBACK (aio.py's _packet).
        rid = self._store.keep(self, t, msg, 1, retain) if qos and self._store else None
        if queued:
            from .resilience import enqueue
            enqueue(self, t, msg, qos, retain, rid)
            self._rouse()
            return sleep_ms(0)
        return self._sent_later(t, msg, qos, retain, rid)

    async def _sent_later(self, t, msg, qos, retain, rid):
        w = self._w
        while w is self._w and len(self._out) > _BEHIND:
            await asyncio.sleep_ms(10)  # the socket is behind: wait for it, never pile up
        if not self.connected:
            from .resilience import enqueue
            enqueue(self, t, msg, qos, retain, rid)
            return
        if not qos:
            self._write(t, msg, 0, retain, 0)
            return
        pid = self._free_pid()
        a = self._expect(pid, mqtt.PUBACK, flag(), (t, msg, qos, retain, rid))
        self._write(t, msg, 1, retain, pid)
        try:
            await self._until(a)
            if a[1] is LOST and self._over:
                raise OSError(errno.ENOTCONN)  # the link went and will not come back: not sent
        except Exception:
            self._forget(rid)  # raised to the caller: not kept
            raise
        if a[2]:
            from .requests import EmitterError
            raise EmitterError(a[2])  # refused by the broker (it acks anyway)

    def _send_queue(self):
        """Send what waits in the queue: QoS 1 entries stay pending until acknowledged."""
        q = self._queue
        while q.count() and self.connected and not self._out:
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

    # --- waiting for acks and answers --------------------------------------------------
    def _free_pid(self):
        asks = self._asks.waits if self._asks else ()
        while True:
            p = self._next_pid()
            if p not in self._acks and p not in asks:
                return p

    def _expect(self, pid, kind, event, redo=None, ms=None):
        """Register the wait for the ack (or answer) of pid; its clock starts now (_expire)."""
        a = self._acks[pid] = [event, None, None, kind, redo,
                               time.ticks_add(time.ticks_ms(), ms or int(self.timeout * 1000))]
        return a

    async def _until(self, a):
        await a[0].wait()
        if a[1] is EXPIRED:
            raise OSError(errno.ETIMEDOUT)
        return a

    def _expire(self):
        """End the waits past their deadline (EXPIRED); return the ms until the next deadline."""
        now = time.ticks_ms()
        nap = 60000
        for pid in list(self._acks):
            a = self._acks[pid]
            left = time.ticks_diff(a[5], now)
            if left <= 0 and (self._rx_at is not None or self._tx_at is not None):
                a[5] = time.ticks_add(now, 200)  # a packet is on its way: the answer may be behind it
                left = 200
            if left <= 0:
                del self._acks[pid]
                a[1] = EXPIRED
                if a[0]:
                    a[0].set()
                elif a[4]:
                    self._again([a[4]])  # sent from the queue and not acknowledged in time: it goes again
                self._suspect()
            elif left < nap:
                nap = left
        return nap

    def _suspect(self):
        """An answer did not come in time: ping now, the link may be half-open."""
        if self.connected and self._ping_at is None:
            self._got = time.ticks_add(time.ticks_ms(), -self.keepalive * 1000)
            self._rouse()

    def _fail(self):
        """The link is gone: up cleared, every wait ended with LOST; return the publishes to send again."""
        if self._up_event:
            self._up_event.clear()
        acks, self._acks = self._acks, {}
        again = []
        for pid in sorted(acks):
            a = acks[pid]
            if a[4]:
                again.append(a[4])
            a[1] = LOST
            if a[0]:
                a[0].set()
        if self._asks:
            for pid in list(self._asks.waits):
                w = self._asks.waits[pid]
                if w[0] is None:
                    w[0] = LOST
                    if w[1]:
                        w[1].set()
        return again
