"""The asyncio client's socket on MicroPython: non-blocking, waited for in asyncio's IO queue as
asyncio.stream does, so that module (0.9 KB of heap, 32-bit) never loads; its timeouts, made without
asyncio.wait_for, so asyncio.funcs (0.4 KB) does not load either; and the flag its waits for acks are
woken by, so asyncio.event (0.6 KB) loads only for what needs a whole Event. Loaded with the first connect."""
import errno

import asyncio
from asyncio import core


def open_socket(host, port, tls):
    """A non-blocking socket connecting to host:port, TLS wrapped (its handshake made by the first reads and
    writes), as asyncio.open_connection makes it on MicroPython."""
    import socket
    ai = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0]
    s = socket.socket(ai[0], ai[1], ai[2])
    try:
        s.setblocking(False)
        if getattr(socket, "__name__", "") != "lwip":
            # TCP_NODELAY (CPython's asyncio sets it), by the port's numbers; not on modlwip, whose writes
            # stall when small segments fill its queue (link.py says why).
            try:
                s.setsockopt(getattr(socket, "IPPROTO_TCP", 6), getattr(socket, "TCP_NODELAY", 1), 1)
            except (AttributeError, OSError):
                pass
        try:
            s.connect(ai[-1])
        except OSError as e:
            if e.errno != errno.EINPROGRESS:
                raise
        if tls:
            s = tls.wrap_socket(s, server_hostname=host, do_handshake_on_connect=False)
            s.setblocking(False)
    except Exception:
        s.close()
        raise
    return s


def readable(s):
    yield core._io_queue.queue_read(s)


def writable(s):
    yield core._io_queue.queue_write(s)


async def handshake(s, connect):
    """Send CONNECT on socket s and return the CONNACK (MicroPython)."""
    while connect:
        await writable(s)
        n = s.write(connect)
        if n:
            connect = connect[n:]
    ack = b""
    while len(ack) < 4:
        await readable(s)
        r = s.read(4 - len(ack))
        if r is not None:
            if not r:
                raise EOFError("closed by the broker")
            ack += r
    return ack


class Flag:
    """The part of asyncio.Event a wait for an ack or answer uses: one task waits, set() wakes it."""

    def __init__(self):
        self.done = False
        self.q = core.TaskQueue()  # where the waiting task is parked: cancel() takes it off from there

    def set(self):
        self.done = True
        if self.q.peek():
            core._task_queue.push(self.q.pop())

    def wait(self):
        if not self.done:
            t = core.cur_task
            self.q.push(t)
            t.data = self.q
            yield


async def timed(aw, ms):
    """aw, or OSError(ETIMEDOUT) after ms: aw runs in this task and a timer task cancels it (wait_for does
    it the other way round)."""
    me = asyncio.current_task()
    late = []

    async def timer():
        await asyncio.sleep_ms(ms)
        late.append(me)
        me.cancel()

    t = asyncio.create_task(timer())
    try:
        return await aw
    except asyncio.CancelledError:
        if late:
            raise OSError(errno.ETIMEDOUT)
        raise
    finally:
        t.cancel()
