"""MQTT over asyncio streams for emitter_micro.aio: the packets, the one reader and the one writer task."""
import errno  # error numbers differ by port (ESP32: ETIMEDOUT 116, not 110): never hard-coded
import struct
import time

import asyncio
from micropython import const

from .client import header

PUBACK = const(0x40)
SUBACK = const(0x90)
UNSUBACK = const(0xB0)
PING = b"\xc0\x00"
_PIECE = const(2048)
LOST = object()  # the answer of a wait whose link went down
EXPIRED = object()  # the answer of a wait that timed out


async def within(aw, ms):
    """aw, or OSError(ETIMEDOUT) after ms."""
    try:
        return await asyncio.wait_for(aw, ms / 1000)
    except asyncio.TimeoutError:
        raise OSError(errno.ETIMEDOUT)


def _room(n):
    """Bytes of a packet whose remaining length is n."""
    return n + (2 if n < 0x80 else 3 if n < 0x4000 else 4)


def publish_packet(t, msg, qos, retain, pid):
    n = 2 + len(t) + len(msg) + 2 * qos
    b = bytearray(_room(n))
    i = header(b, 0x30 | qos << 1 | (1 if retain else 0), n)
    struct.pack_into("!H", b, i, len(t))
    b[i + 2:i + 2 + len(t)] = t
    i += 2 + len(t)
    if qos:
        struct.pack_into("!H", b, i, pid)
        i += 2
    b[i:] = msg
    return b


def pid_packet(first, pid, t, data):
    """SUBSCRIBE (data: the QoS byte) or UNSUBSCRIBE of topic t."""
    n = 4 + len(t) + len(data)
    b = bytearray(_room(n))
    i = header(b, first, n)
    struct.pack_into("!HH", b, i, pid, len(t))
    i += 4
    b[i:i + len(t)] = t
    b[i + len(t):] = data
    return b


def connect_packet(em):
    """CONNECT: clean session, the client id, the will and the username of em's options."""
    user = em._options.get("username")
    parts = [em.client_id.encode()]
    flags = 2
    if em._will:
        flags |= 0x24 if em._will[2] else 4
        parts += em._will[:2]
    if user:
        flags |= 0x80
        parts.append(user.encode())
    n = 10
    for p in parts:
        n += 2 + len(p)
    b = bytearray(_room(n))
    i = header(b, 0x10, n)
    struct.pack_into("!H4sBBH", b, i, 4, b"MQTT", 4, flags, em.keepalive)
    i += 10
    for p in parts:
        struct.pack_into("!H", b, i, len(p))
        b[i + 2:i + 2 + len(p)] = p
        i += 2 + len(p)
    return b


class Wire:
    """Reading and writing the link; aio.Emitter inherits it."""

    async def _read(self, r, w):
        try:
            while True:
                b = await r.read(1)
                if not b:
                    raise EOFError("closed by the broker")
                # A packet has started: the rest must follow within the timeout.
                self._rx_at = time.ticks_ms()
                n = sh = 0
                while True:
                    c = (await r.readexactly(1))[0]
                    n |= (c & 0x7F) << sh
                    if c < 0x80:
                        break
                    sh += 7
                    if sh > 21:
                        raise ValueError("bad packet length")
                # In pieces, each one restarting the clock: a slow link that delivers is not a dead one.
                parts = []
                while n:
                    c = await r.read(n)
                    if not c:
                        raise EOFError("closed by the broker")
                    parts.append(c)
                    n -= len(c)
                    self._rx_at = self._got = time.ticks_ms()
                body = parts[0] if len(parts) == 1 else b"".join(parts)
                self._got = time.ticks_ms()
                self._rx_at = self._ping_at = None
                self._packet(b[0], body)
        except Exception as e:
            if self._w is w and not self._closed:
                self._rd = None
                self._dead(e)

    async def _write(self, w):
        # The one task that writes: MicroPython's streams allow one drain at a time.
        try:
            while True:
                if not self._out:
                    self._kick.clear()
                    await self._kick.wait()
                    continue
                out, self._out = self._out, []
                for p in out:
                    if type(p) is list:
                        continue  # the wait of the packet before it: its clock starts once that is out
                    # A large packet in pieces, each one restarting the clock (as for reading).
                    while len(p) > _PIECE:
                        w.write(p[:_PIECE])
                        p = p[_PIECE:]
                        self._tx_at = time.ticks_ms()
                        await w.drain()
                    w.write(p)
                self._tx_at = time.ticks_ms()
                await w.drain()
                self._tx_at = None
                self._sent = now = time.ticks_ms()
                for a in out:
                    if type(a) is list and a[5] is None:
                        a[5] = time.ticks_add(now, a[6])
                        if time.ticks_diff(a[5], self._due) < 0:
                            self._wake.set()  # earlier than the link task's next look: tell it
        except Exception as e:
            if self._w is w and not self._closed:
                self._wr = None
                self._dead(e)

    def _put(self, p, wait=None):
        """Hand packet p to the writer; wait (an entry of _acks) starts its clock once p is written."""
        self._out.append(p)
        if wait:
            self._out.append(wait)
        self._kick.set()

    def _packet(self, first, body):
        kind = first & 0xF0
        if kind == 0x30:
            i = 2 + (body[0] << 8 | body[1])
            topic = body[2:i]
            if first & 6:
                self._put(b"\x40\x02" + body[i:i + 2])  # PUBACK (the broker sends QoS 0 only)
                i += 2
            self._deliver(topic, body[i:])
        elif kind in (PUBACK, SUBACK, UNSUBACK):
            pid = body[0] << 8 | body[1]
            a = self._acks.get(pid)
            if a and a[3] == kind:
                del self._acks[pid]
                a[1] = body
                if a[0]:
                    a[0].set()
