"""The receive path of a subscribing device: what the link has, read into one buffer in as few
socket calls as it takes, and the packets parsed from it.

Imported with the first SUBSCRIBE (or UNSUBSCRIBE): a publish-only device reads its few acks
through umqtt.simple and pays no buffer. Once a Receiver exists it reads everything after the
CONNACK (loop(), subscription acks, PUBACKs), as bytes it holds are no longer in the socket.
Functions are kept small: each one's bytecode is one heap block when loaded from .mpy.
"""
import errno  # error numbers differ by port (ESP32: ETIMEDOUT 116, not 110): from here, as const() cannot hold them
import struct
import time

from micropython import const

from .client import header
from .message import EmitterMessage

_START = const(256)  # the buffer at first; it doubles to hold two packets of the largest size seen, up to _MOST
_MOST = const(4096)  # a larger packet gets a buffer of its own, dropped once it is dispatched


class Receiver:
    """One buffer kept for the connection: buf[i:n] holds what was read but not yet parsed.

    Its state lives in the object, not in locals: a handler may publish at QoS 1 or call loop(),
    and the nested read goes on from where this one stands. subscriptions.py keeps its cache of
    the handler per channel here (routes): the client's own fields stay as many as they were.
    """

    def __init__(self, em):
        self.em = em
        self.link = None
        self.routes = {}
        self.i = self.n = self.want = self.pid = self.code = 0
        self._new(_START)

    def _new(self, size):
        self.buf = bytearray(size)  # a MemoryError if the heap cannot
        self.mv = memoryview(self.buf)

    def pump(self, ms=0, want=0, pid=0):
        """Dispatch the packets the link has (waiting up to ms for the first); with want, the first
        byte of an ack, read until the ack for pid comes (by em._until) and return its last byte."""
        em = self.em
        link = em._link
        if self.link is not link:  # a new connection: nothing of the last one is kept
            self.link = link
            self.i = self.n = self.want = 0
        if want:
            # Awaited here, though a handler's loop() may be the one that reads it.
            self.want, self.pid = want, pid
        if self.i < self.n:
            ms = 0  # packets wait in the buffer: no waiting for more
        more = True
        while True:
            if em._link is not link:  # a handler's call dropped the link (or disconnected)
                if want:
                    raise OSError(errno.ENOTCONN)
                return None
            buf, i, n = self.buf, self.i, self.n
            # The fixed header: the first byte, then the remaining length in 1-4 bytes.
            j = i + 1
            size = shift = 0
            while j < n:
                b = buf[j]
                j += 1
                size |= (b & 0x7F) << shift
                if b < 0x80:
                    break
                shift += 7
                if shift > 21:
                    raise ValueError("malformed packet length")
            else:
                j = 0  # not all of the header is here yet
            end = j + size
            if j and end <= n:
                self.i = end  # before dispatching: a handler's nested read starts after this packet
                first = buf[i]
                if first & 0xF0 == 0x30:
                    self._message(first, j, end)
                elif first == self.want and size > 1 and buf[j] << 8 | buf[j + 1] == self.pid:
                    self.want, self.code = 0, buf[end - 1]
                # Else a PINGRESP, or an ack nothing waits for any more.
                if want and not self.want:
                    return self.code
                continue
            if i == n:
                if not (more or want):
                    return None  # all that was pending is handled
                if want:
                    ms = time.ticks_diff(em._until, time.ticks_ms())
                    if ms <= 0:
                        raise OSError(errno.ETIMEDOUT)  # no ack in time
            more = self._read(link, ms, self._room(end - i if j else 0), end - n if j else n - i and 1)
            if want and self.i == self.n:
                raise OSError(errno.ETIMEDOUT)  # nothing came
            ms = 0

    def _room(self, size):
        """Move the bytes not parsed yet to the front, in a buffer that holds a packet of size bytes;
        return where reading goes on."""
        i, n, b = self.i, self.n, self.buf
        if i == n:
            if len(b) > _MOST:
                self._new(_START)  # the buffer of one large packet: back to a small one
        elif size > len(b):
            k = len(b)
            while k < 2 * size and k < _MOST:
                k *= 2  # a torn packet and the next one
            self._new(max(k, size))
            self.buf[:n - i] = memoryview(b)[i:n]
        elif i:
            b[:n - i] = self.mv[i:n]
        self.i, self.n = 0, n - i
        return n - i

    def _message(self, first, j, end):
        """A PUBLISH in buf[:end] (its body at j), delivered as the client's _dispatch would."""
        em, buf, mv = self.em, self.buf, self.mv
        a = j + 2
        b = p = a + (buf[j] << 8 | buf[j + 1])
        if first & 6:
            p += 2  # a packet id
        if p > end or first & 6 > 2:
            raise ValueError("malformed PUBLISH" if p > end else "QoS 2 is not supported")
        if first & 6:  # QoS 1 (the broker sends QoS 0; another broker may not): acknowledged
            em._link.write(bytes((0x40, 2, buf[b], buf[b + 1])))
        t = em._rx_topic
        if t is not None and len(t) == b - a and mv[a:b] == t:
            # The channel of the message before, whose handler is known: _dispatch's common case.
            ch = em._rx_chan
            h = self.routes.get(ch, self)
            if h is not self:
                em._count += 1
                m = EmitterMessage(ch, bytes(mv[p:end]))
                em._call("message", h, m) if h else em._emit("message", m)
                if em._until is not None and time.ticks_diff(time.ticks_ms(), em._until) > 0:
                    raise OSError(errno.ETIMEDOUT)  # messages keep coming but the ack does not
                return
        else:
            t = bytes(mv[a:b])
        em._dispatch(t, bytes(mv[p:end]))

    def _read(self, link, ms, n, need):
        """Read what is pending into buf[n:] (waiting up to ms for it), and at least need bytes
        (waiting up to the timeout for them). True: the buffer is full, more may be waiting."""
        s = link.s
        if s is None:
            raise OSError(errno.EBADF)  # closed
        link.wait(ms)  # select.poll (TLS: never a read timeout); with nothing to poll, a read timeout
        mv = self.mv if n == 0 else self.mv[n:]
        try:
            r = s.readinto(mv[:1] if ms > 0 and not link.poller else mv)
        except OSError as e:
            c = e.args[0]  # one by one: from .mpy, a tuple of errno.* is built on every call
            if c != errno.ETIMEDOUT and c != errno.EAGAIN:
                raise
            r = None
        link.setblocking(True)  # writes block (bounded by the timeout), as a handler's publish needs
        if r == 0:
            raise OSError(-1)  # the peer closed the connection: umqtt.simple's own code for it, not an errno
        if r:
            self.em._ping_at = None  # the link is alive
            n += r
            need -= r
        if need > 0:  # a packet is torn: its rest is on the way, waited for up to the timeout
            if s.readinto(self.mv[n:n + need]) != need:
                raise OSError(-1)
            n += need
        self.n = n
        return n == len(self.buf)

    def publish(self, t, msg, retain, qos):
        """A QoS 1 PUBLISH whose PUBACK is read here: umqtt.simple would read past the buffer."""
        em = self.em
        c = em._mqtt
        c.pid = pid = c.pid + 1  # em._next_pid() wrapped it
        b = em._buf
        i = header(b, 0x32 | retain, 4 + len(t) + len(msg))
        struct.pack_into("!H", b, i, len(t))
        w = em._link.write
        w(b, i + 2)
        w(t)
        struct.pack_into("!H", b, 0, pid)
        w(b, 2)
        w(msg)
        self.pump(0, 0x40, pid)
