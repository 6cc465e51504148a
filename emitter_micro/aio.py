"""asyncio client: `em = await aio.connect(options)`; every call that waits for the broker is a coroutine.

A link task keeps the link (keepalive, half-open detection, reconnect with backoff, resubscribe, the
queue); a reader task parses what arrives (parser.Parser) and routes it; packets are written straight
to the socket when it takes them, and drained by a task when it does not. The options, events,
routing, queue and backoff are core.Core's, as the sync client's; umqtt.simple is never loaded.
"""
import time

import asyncio

from . import mqtt
from .aiosend import LOST, OWN_SOCKET, Send, connect_packet, shut, sleep_ms, within
from .core import Core
from .parser import Parser


async def connect(options=None):
    """Connect to an Emitter broker and return the asyncio Emitter (its link task running)."""
    return await Emitter(options).connect()


class Emitter(Send, Core):
    """The asyncio client. Fields: core.Core's (and the objects it names), the waits (_acks, aiosend.py),
    and the link's own, all set here."""

    def __init__(self, options=None):
        o = options or {}
        # packet id -> [Event (None: sent from the queue), answer, error, ack type (None: an answer),
        # publish to send again if the link goes first (a queue entry), deadline]. Made before Core's
        # __init__, which may tell something (the store's reports) through _emit.
        self._acks = {}
        super().__init__(o, ("message_queue",))
        self.message_queue = o.get("message_queue", 16)
        if not self.message_queue > 0:
            raise ValueError("message_queue must be > 0")
        self._up_event = None  # up: made on first use
        self.inbox = []  # messages for messages(), oldest first
        self._new = None  # an Event, made by the first messages() iterator that waits
        self._p = Parser(64)  # grows with the first message: a publish-only device reads acks alone
        self._task = self._rd = self._wr = self._w = self._ping_at = self._rx_at = self._tx_at = None
        self._over = self._napping = self._roused = False
        self._out = b""  # what waits for the socket behind the drain task (MicroPython)
        self._sent = self._got = time.ticks_ms()

    @property
    def up(self):
        """An asyncio.Event set while connected; made on first use (asyncio.event is 0.6 KB of heap)."""
        e = self._up_event
        if e is None:
            e = self._up_event = asyncio.Event()
            if self.connected:
                e.set()
        return e

    def _later(self):
        from .aiocalls import Calls
        return Calls

    def on(self, event, callback):
        """Register callback for event; events held until now are delivered by the link task."""
        super().on(event, callback)
        if self._held:
            self._rouse()

    # --- connecting --------------------------------------------------------------------
    async def connect(self):
        """Connect; with reconnect on, a failure is retried by the link task instead of raised."""
        if self._task is not None:
            return self  # the link task is at it already
        self._closed = self._over = False
        if self.secure and not self._tls:
            from .tls import context
            self._tls = context(self._options)
        try:
            await self._open()
        except Exception as e:
            self._dead(e)
            if self._over:
                raise  # reconnect off: as the sync client
        if self._task is None:
            self._task = asyncio.create_task(self._keep())
        return self

    async def _open(self):
        host, port = self._next_host()
        ms = int(self.timeout * 1000)
        user = self._options.get("username")
        packet = connect_packet(self.client_id.encode(), self.keepalive, self._last_will(), user and user.encode())
        if OWN_SOCKET:
            from .aionet import handshake, open_socket
            r = self._w = open_socket(host, port, self._tls)
            ack = await within(handshake(r, packet), ms)
        else:
            kw = {"ssl": self._tls, "server_hostname": host} if self._tls else {}
            r, w = await within(asyncio.open_connection(host, port, **kw), ms)
            self._w = w
            w.write(packet)
            await within(w.drain(), ms)
            ack = await within(r.readexactly(4), ms)
        if ack[0] != 0x20 or ack[3]:
            raise ValueError("CONNACK %r" % ack)
        self._sent = self._got = time.ticks_ms()
        self._ping_at = self._rx_at = self._tx_at = None
        self._p.reset()
        self._out = b""
        self._rd = asyncio.create_task(self._read(r, self._w))
        # The broker keeps no sessions; subscriptions made meanwhile are sent too.
        done = []
        while self._subs:
            todo = [t for t in self._subs.topics() if t not in done]
            if not todo:
                break
            for t in todo:
                done.append(t)
                # Bounded here: the link task, which expires waits, may be the one waiting.
                a = await within(self._ack_wait(mqtt.SUBSCRIBE, t), ms)
                if a[1] is LOST:
                    return  # the link went meanwhile, and that was told
                if a[1] == 0x80:
                    self._subs.drop(t)  # refused now (a banned key): the 'error' event told why
        self._up()
        if self._up_event:
            self._up_event.set()
        if self._queue:
            self._send_queue()

    def _dead(self, err):
        """The link (or an attempt) failed: stop its tasks, close it, end the waits, tell, plan the retry."""
        cur = asyncio.current_task()
        for t in (self._rd, self._wr):
            if t is not None and t is not cur:
                t.cancel()
        self._rd = self._wr = None
        self._out = b""
        w, self._w = self._w, None
        if w:
            asyncio.create_task(shut(w))
        again = self._fail()
        try:
            self._lost(err)  # 'error', 'disconnect'; raises with reconnect off
        except Exception:
            self._over = True
            if self._new:
                self._new.set()
        else:
            if again:  # publishes sent but not acknowledged go again first, in order, then the queue
                self._again(again)
        self._rouse()

    # --- the link task -----------------------------------------------------------------
    async def _keep(self):
        while not self._over:
            if self._held:
                self._deliver_held()
            if self.connected:
                if self._queue:
                    self._send_queue()
                nap = min(self._check(), self._expire())
            else:
                nap = self._backoff.wait() if self._backoff else 0
                if nap <= 0:
                    try:
                        await self._open()
                    except Exception as e:
                        self._dead(e)
                    continue
            if not self._roused:
                self._napping = True
                try:
                    await sleep_ms(max(10, nap))
                except asyncio.CancelledError:
                    if self._napping:
                        raise  # not _rouse's: the task is stopped
                self._napping = False
            self._roused = False

    def _rouse(self):
        """Have the link task look again now: its nap is cut short (a sleep that allocates nothing on
        MicroPython, where waiting for an Event with a timeout makes a task each time)."""
        self._roused = True
        if self._napping:
            self._napping = False
            self._task.cancel()

    # --- reading and writing -----------------------------------------------------------
    async def _read(self, r, w):
        p = self._p
        if OWN_SOCKET:
            from .aionet import readable  # r: the socket
        try:
            while True:
                first = p.next()
                if first >= 0:
                    self._packet(p, first)
                    continue
                # A packet under way: its rest must follow within the timeout, counted from the last progress.
                self._rx_at = time.ticks_ms() if p.i < p.n else None
                mv = p.space()
                if OWN_SOCKET:
                    await readable(r)
                    n = r.readinto(mv)
                    if n is None:
                        continue  # woken with nothing to read (TLS: a record not all in)
                else:
                    b = await r.read(len(mv))
                    n = len(b)
                    mv[:n] = b
                if not n:
                    raise EOFError("closed by the broker")
                p.n += n
                self._got = time.ticks_ms()
                self._ping_at = None
        except Exception as e:
            if self._w is w and not self._closed:
                self._rd = None
                self._dead(e)

    def _packet(self, p, first):
        kind = first & 0xF0
        j, end = p.j, p.end
        if kind == mqtt.PUBLISH:
            pid = p.message(self, first)
            if pid:
                b = bytearray(4)  # the broker sends QoS 0 only: a PUBACK is rare
                self._put(b, mqtt.puback(b, pid))
        elif kind == mqtt.PUBACK or kind == mqtt.SUBACK or kind == mqtt.UNSUBACK:
            pid = p.buf[j] << 8 | p.buf[j + 1]
            a = self._acks.get(pid)
            if a and a[3] == kind:
                del self._acks[pid]
                a[1] = p.buf[end - 1]
                if a[4]:
                    self._forget(a[4][4])  # acknowledged: its record in the store goes
                if a[0]:
                    a[0].set()

    def _put(self, b, k):
        """Write b[:k]: straight to the socket when nothing waits before it, else behind what does (a
        copy: b is reused), written out by a drain task made then."""
        w = self._w
        if w is None:
            return
        if not OWN_SOCKET:
            w.write(bytes(memoryview(b)[:k]))  # CPython's stream keeps what its socket has not taken
        elif self._wr is None:
            n = w.write(b, k) or 0  # non-blocking: what the socket takes now
            if n == k:
                self._sent = time.ticks_ms()
                return
            self._out = bytes(memoryview(b)[n:k])
        else:
            self._out += bytes(memoryview(b)[:k])
        if self._wr is None:
            self._wr = asyncio.create_task(self._drain(w))

    async def _drain(self, w):
        # One drain at a time; what _put adds meanwhile joins _out behind what is being written.
        try:
            self._tx_at = time.ticks_ms()
            if not OWN_SOCKET:
                await w.drain()  # CPython: its stream holds what its socket has not taken
            else:
                from .aionet import writable
            while self._out:  # w: the socket
                await writable(w)
                n = w.write(self._out)
                if n:
                    self._out = self._out[n:]
                    self._tx_at = time.ticks_ms()  # progress: a stalled write is one that makes none
            self._tx_at = None
            self._sent = time.ticks_ms()
            self._wr = None
        except Exception as e:
            if self._w is w and not self._closed:
                self._wr = None
                self._dead(e)

    def _unrouted(self, m):
        if "message" in self._handlers:
            self._emit("message", m)
            return
        q = self.inbox
        if len(q) >= self.message_queue:
            q.pop(0)
            self.missed += 1
        q.append(m)
        if self._new:
            self._new.set()

    def _emit(self, name, arg=None):
        # An error that carries the packet id of a publish or subscription awaited marks it refused.
        if name == "error" and type(arg) is dict:
            a = self._acks.get(arg.get("req"))
            if a:
                a[2] = arg
        super()._emit(name, arg)

