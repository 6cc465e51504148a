"""asyncio front-end: `em = await aio.connect(options)`; every call that waits for the broker is a coroutine.

A background task keeps the link (reading, keepalive, half-open detection,
reconnect with backoff, resubscribe, the queue); no task waits on the network.
MQTT is written here over asyncio streams; topics, payloads, request bodies,
answers, routing, the queue and the backoff are the sync client's. Imported
only when used: a sync-only device never loads it.
"""
import errno  # error numbers differ by port (ESP32: ETIMEDOUT 116, not 110): never hard-coded
import time

import asyncio

from .aiocalls import Calls
from .aiowire import LOST, PING, SUBACK, Wire, connect_packet, pid_packet, within
from .client import Emitter as _Sync
from .message import EmitterMessage
from .resilience import down
from .subscriptions import _routing


async def connect(options=None):
    """Connect to an Emitter broker and return the asyncio Emitter (its link task running)."""
    return await Emitter(options).connect()


async def _shut(w):
    try:
        w.close()
        await within(w.wait_closed(), 1000)
    except Exception:
        pass


class _Routes:
    """Where subscriptions.route keeps its handler per channel (the sync client keeps it on its Receiver)."""

    routes = None


class Emitter(Calls, Wire, _Sync):
    """The asyncio client: the sync Emitter's options, events and state, its link kept by a task."""

    def __init__(self, options=None):
        o = dict(options or {})
        self.message_queue = o.pop("message_queue", 16)
        if not self.message_queue > 0:
            raise ValueError("message_queue must be > 0")
        super().__init__(o)
        self._rx = _Routes()
        self.up = asyncio.Event()  # set while connected
        self.inbox = []  # messages for messages(), oldest first
        self._new = asyncio.Event()
        self._wake = asyncio.Event()
        self._kick = asyncio.Event()
        # packet id -> [Event (None: sent from the queue), answer, error, ack type (None: an answer), publish to
        # send again if the link goes first, deadline (set once the packet is written), ms to wait]
        self._acks = {}
        self._out = []
        self._pid = 0
        self._task = self._rd = self._wr = self._w = self._ping_at = self._rx_at = self._tx_at = None
        self._over = False
        self._got = self._due = self._sent

    # --- plain calls ---------------------------------------------------------------------
    def on(self, event, callback):
        """Register callback for event; events held until now are delivered by the link task."""
        super().on(event, callback)
        if self._held:
            self._wake.set()

    def pending(self):
        """Publishes not yet acknowledged that wait for the link: queued, or sent from the queue."""
        n = len(self._backlog.q) if self._backlog else 0
        for a in self._acks.values():
            if a[0] is None:
                n += 1
        return n

    def messages(self):
        """An async iterator over the messages no handler takes, in order (bounded by message_queue)."""
        return _Messages(self)

    def loop(self, timeout_ms=0):
        raise RuntimeError("the asyncio client's link task runs the loop")

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

    async def disconnect(self):
        """Close the connection cleanly; no reconnect after it."""
        self._closed = self._over = True
        if self.connected:
            self._put(b"\xe0\x00")  # DISCONNECT
            end = time.ticks_add(time.ticks_ms(), 1000)
            while (self._out or self._tx_at is not None) and self._w and time.ticks_diff(end, time.ticks_ms()) > 0:
                await asyncio.sleep(0.01)
        cur = asyncio.current_task()
        for t in (self._task, self._rd, self._wr):
            if t is not None and t is not cur:
                t.cancel()
        self._task = self._rd = self._wr = None
        w, self._w = self._w, None
        self._fail()
        self.up.clear()
        self._new.set()
        if self.connected:
            self.connected = False
            self._emit("disconnect")
        if w:
            await _shut(w)

    async def _open(self):
        self._host_i = i = (self._host_i + 1) % len(self.hosts)
        host, _, port = self.hosts[i].partition(":")
        port = int(port) if port else self.port
        ms = int(self.timeout * 1000)
        kw = {"ssl": self._tls, "server_hostname": host} if self._tls else {}
        r, w = await within(asyncio.open_connection(host, port, **kw), ms)
        self._w = w
        try:
            # TCP_NODELAY on MicroPython (CPython's asyncio sets it), by the port's numbers (link.py).
            import socket
            w.s.setsockopt(getattr(socket, "IPPROTO_TCP", 6), getattr(socket, "TCP_NODELAY", 1), 1)
        except (AttributeError, OSError):
            pass
        w.write(connect_packet(self))
        await within(w.drain(), ms)
        ack = await within(r.readexactly(4), ms)
        if ack[0] != 0x20 or ack[3]:
            raise ValueError("CONNACK %r" % ack)
        self._sent = self._got = time.ticks_ms()
        self._ping_at = self._rx_at = self._tx_at = None
        self._out = []
        self._rd = asyncio.create_task(self._read(r, w))
        self._wr = asyncio.create_task(self._write(w))
        # The broker keeps no sessions; subscriptions made meanwhile are sent too.
        done = []
        while True:
            todo = [t for t in self._subs or () if t not in done]
            if not todo:
                break
            for t in todo:
                done.append(t)
                pid = self._next()
                # Bounded here: the link task, which expires waits, may be the one waiting.
                a = await within(self._wait(pid, pid_packet(0x82, pid, t, b"\0"), SUBACK), ms)
                if a[1] is LOST:
                    return  # the link went meanwhile, and that was told
                if a[1][2:] == b"\x80" and t in self._subs:
                    del self._subs[t]  # refused now (a banned key): the 'error' event told why
        _routing(self)
        self.connected = True
        self._delay = 0
        self.up.set()
        self._emit("connect")
        if self._backlog:
            self._backlog.drain(self)

    def _dead(self, err):
        """The link (or an attempt) failed: stop its tasks, close it, end the waits, tell, plan the retry."""
        cur = asyncio.current_task()
        for t in (self._rd, self._wr):
            if t is not None and t is not cur:
                t.cancel()
        self._rd = self._wr = None
        w, self._w = self._w, None
        if w:
            asyncio.create_task(_shut(w))
        self.up.clear()
        again = self._fail()
        try:
            down(self, err)  # the sync client's: 'error', 'disconnect', raise with reconnect off, next retry
        except Exception:
            self._over = True
            self._new.set()
        else:
            # Publishes sent but not acknowledged go again first, in order, then the queue.
            old, self._backlog = self._backlog, None
            for p in again + (old.q if old else []):
                self._queue(*p)
        self._wake.set()

    def _fail(self):
        """End every wait with LOST; return the publishes to send again."""
        self._out = []
        acks, self._acks = self._acks, {}
        again = []
        for pid in sorted(acks):
            a = acks[pid]
            if a[4]:
                again.append(a[4])
            a[1] = LOST
            if a[0]:
                a[0].set()
        return again

    # --- the link task -----------------------------------------------------------------
    async def _keep(self):
        while not self._over:
            if self._held:
                self._deliver_held()
            if self.connected:
                if self._backlog:
                    self._backlog.drain(self)
                nap = min(self._check(), self._expire())
            else:
                nap = time.ticks_diff(self._retry, time.ticks_ms())
                if nap <= 0:
                    try:
                        await self._open()
                    except Exception as e:
                        self._dead(e)
                    continue
            nap = max(10, nap)
            self._due = time.ticks_add(time.ticks_ms(), nap)
            try:
                await asyncio.wait_for(self._wake.wait(), nap / 1000)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()

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
        self._put(PING)
        return ms // 2

    def _deliver(self, topic, msg):
        if topic[:8] == b"emitter/":
            from .requests import on_answer
            on_answer(self, topic[8:-1].decode(), msg)
            return
        m = EmitterMessage(topic.decode(), msg)
        h = self._route and self._route(self, m.channel)
        if h:
            self._call("message", h, m)
        elif "message" in self._handlers:
            self._emit("message", m)
        else:
            q = self.inbox
            if len(q) >= self.message_queue:
                q.pop(0)
                self.dropped += 1
            q.append(m)
            self._new.set()

    def _emit(self, name, arg=None):
        # Answers and errors that carry the packet id of a wait end it (or mark it failed).
        if type(arg) is dict:
            a = self._acks.get(arg.get("req"))
            if a:
                if a[3] is None:
                    del self._acks[arg["req"]]
                    a[1] = arg
                    a[0].set()
                elif name == "error":
                    a[2] = arg
        super()._emit(name, arg)


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
            em._new.clear()
            await em._new.wait()
        return em.inbox.pop(0)

