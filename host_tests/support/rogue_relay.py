"""Relay mode of the rogue peer: the scenarios' bytes cross a real network (issue 16).

With ROGUE_RELAY=host:port in the environment, rogue_peer.FakeNet.socket() returns a RelaySocket
instead of a FakeSocket. It keeps FakeSocket's interface and semantics (the scenarios assert the
same things), and the Peer with its scripted logic stays in the device process, but every byte
goes over two real sockets of the runtime (on lwip32: lwIP's, over the TAP link):

    client socket --> Relay (host, CPython) --> peer socket --> Peer._got()  (what the client wrote)
    Peer.inbox --> peer socket --> Relay --> client socket --> the client's read  (what the Peer sends)

The device is one thread, so the peer side is pumped where FakeSocket is synchronous: a write
returns once the peer has taken in all of it (and queued its answers); a read first puts the
Peer's inbox on the wire and waits until it has arrived. Both real sockets stay non-blocking and
writes loop on short counts (lwIP's send buffer is 6,400 B), so neither side can block the other.
Timeouts are FakeSocket's, counted here on the device's clock while polling the real sockets:
a blocking read with a timeout that what the Peer queued cannot satisfy waits that long and
raises ETIMEDOUT, whatever the network does meanwhile. WAIT_MS bounds the bytes' crossing; past it
the harness failed (RelayFault, a BaseException: the library must not take it for a network error).
peer.closed is a real close of the pair (the client reads EOF; a later write meets a reset);
peer.mute is a pair that carries nothing back. The library's setsockopt() calls reach its real
socket (FakeSocket has none), so the client's socket is set up as on the device: on lwIP the
library's (6, 1, 1) is not TCP_NODELAY, and Nagle's delay shows as it would on a board.

The device side runs on MicroPython (select.poll, socket, time.ticks_ms) and on CPython through
the shim; Relay (below) is the host side, CPython only.
"""
import select
import time

from rogue_peer import Blocked

try:
    # MicroPython's, and under CPython the shim's: its MicroPython-like socket, and the device's error
    # numbers (ESP32's with SHIM_ERRNO=esp32) where CPython's `errno` keeps Linux's.
    import uerrno as errno
    import usocket as socket
except ImportError:
    import errno
    import socket

WAIT_MS = 5000  # longest a byte may take to cross the relay (the harness's fault, not the library's)
# The peer side keeps at most this much ahead of what the client has taken: lwIP's 8,000 B heap
# (MEM_SIZE) holds what a socket has sent and not had acked, and the harness's socket must not
# take from the client's share what a board's client would have to itself.
PEER_AHEAD = 1600
_live = []  # open RelaySockets: a scenario that moves on to a new Peer has abandoned the old client


def _nodelay(s):
    # One write per packet must go out at once: Nagle's delay behind a delayed ACK would stretch every
    # exchange by 40-250 ms. modlwip's TCP_NODELAY is lwIP's flag (0x40), POSIX's is 1.
    try:
        s.setsockopt(getattr(socket, "IPPROTO_TCP", 6), getattr(socket, "TCP_NODELAY", 1), 1)
    except (OSError, AttributeError):
        pass


def _join():
    """Join the WiFi once, as a board does before any socket works: lwip32's `network` (firmware/lwip/)
    keeps the TAP link down until WLAN.connect(). The unix port and CPython have nothing to join."""
    import sys
    if sys.implementation.name != "micropython":
        return
    try:
        import network
    except ImportError:
        return
    w = network.WLAN(network.STA_IF)
    if w.isconnected():
        return
    w.active(True)
    w.connect("rogue", "relay")
    start = time.ticks_ms()
    while not w.isconnected():
        if time.ticks_diff(time.ticks_ms(), start) > WAIT_MS:
            raise RelayFault("the device's WLAN did not come up (status %r)" % (w.status(),))
        time.sleep_ms(10)


class RelaySocket:
    """FakeSocket's interface and semantics on two real sockets paired by the relay."""

    def __init__(self, peer, relay):
        self.peer = peer
        self.relay = relay  # (host, port)
        self.timeout = None
        self.blocking = True
        self.closed = False
        self.c = self.p = self.poller = None  # the client's and the peer's real sockets
        self.rx = bytearray()  # taken off the client socket, not yet read (as FakeSocket's inbox keeps them)
        self.buf = bytearray(2048)
        self.sent = self.got = 0  # bytes the client wrote / of those, the bytes the peer took in
        self.queued = self.taken = 0  # bytes the peer socket wrote / of those, taken off the client socket
        self.cut = False  # peer.closed made real: the peer socket is closed, the relay drops the pair
        self.opts = []  # the library's setsockopt() calls, made on the client socket once it exists

    def settimeout(self, t):
        self.timeout = t
        self.blocking = t != 0

    def setblocking(self, flag):
        self.blocking = flag
        self.timeout = None

    def setsockopt(self, level, opt, value):
        # The library's socket options reach its real socket (FakeSocket has none: the library's
        # try/except passes), so the client's socket is set up as on the device, Nagle included.
        self.opts.append((level, opt, value))

    def connect(self, addr):
        self.peer.connected = True
        _join()
        for s in _live[:]:
            if s.peer is not self.peer:
                s.close()  # an abandoned client: on lwIP (5 TCP PCBs) it would hold two of them
        _live.append(self)
        try:
            ai = socket.getaddrinfo(self.relay[0], self.relay[1])[0][-1]
            # The peer side says hello first and gets the pair's number; the client side then names it.
            self.p = p = self._open(ai)
            p.write(b"p\n")
            line = b""
            while not line.endswith(b"\n"):
                b = p.read(1)
                if not b:
                    raise OSError(errno.ECONNRESET)
                line += b
            self.c = c = self._open(ai, self.opts)
            c.write(b"c " + line)
        except OSError as e:
            self.close()
            raise RelayFault("cannot reach the relay at %s:%d: %r" % (self.relay[0], self.relay[1], e))
        for s in (c, p):
            s.setblocking(False)
        self.poller = select.poll()
        self.poller.register(c, select.POLLIN)
        self.poller.register(p, select.POLLIN)

    def _open(self, ai, opts=None):
        s = socket.socket()
        s.settimeout(WAIT_MS / 1000)
        if opts is None:
            _nodelay(s)  # the peer's side: the harness's socket
        else:
            for o in opts:
                s.setsockopt(*o)  # the client's: what the library asked for, nothing more
        s.connect(ai)
        return s

    # --- the peer's side, pumped by the client's calls ----------------------------------------
    def _current(self):
        return not self.closed and self.peer.sockets and self.peer.sockets[-1] is self

    def _pump(self):
        """Take in what the client wrote (the Peer answers into its inbox), put the inbox on the wire,
        and make peer.closed real once all the Peer sent has reached the client."""
        p = self.p
        if p is None:
            return
        try:
            while True:
                r = p.readinto(self.buf)
                if r == 0:
                    raise OSError(errno.ECONNRESET)  # EOF: the relay dropped the pair (the client's end went)
                if r is None:
                    break
                self.got += r
                self.peer._got(bytes(self.buf[:r]))
            inbox = self.peer.inbox
            room = PEER_AHEAD - (self.queued - self.taken)
            if inbox and room > 0 and self._current():
                w = p.write(inbox[:room])  # non-blocking: what fits, maybe None
                if w:
                    self.peer.inbox = inbox[w:]
                    self.queued += w
        except OSError:
            # The relay dropped the pair: what the client wrote is lost, as on a real link, and the
            # client's own socket tells the client.
            self._drop_peer()
            return
        if self._closing() and not self.peer.inbox and self.taken == self.queued:
            # FakeSocket's reader gets the inbox, then EOF: the peer side goes once all of it arrived.
            self._drop_peer()
            self.cut = True

    def _drop_peer(self):
        self.poller.unregister(self.p)
        self.p.close()
        self.p = None

    def _closing(self):
        """The scenario closed the peer (a mute one stays half-open, as FakeSocket's), not yet made real."""
        return self.peer.closed and not self.peer.mute and not self.cut and self._current()

    def _gather(self):
        """Take what arrived on the client socket into rx: None (nothing now), 0 (EOF) or the count."""
        got = None
        while True:
            r = self.c.readinto(self.buf)  # a reset raises here: the client's read sees it
            if r is None:
                return got
            if r == 0:
                return 0
            self.rx += self.buf[:r]
            self.taken += r
            got = (got or 0) + r

    def _wait(self, ms, writing=False):
        """Wait up to ms for either socket (the client's for writing too)."""
        p = self.p
        if p is not None:
            self.poller.modify(p, select.POLLIN | (select.POLLOUT if self.peer.inbox else 0))
        self.poller.modify(self.c, select.POLLIN | (select.POLLOUT if writing else 0))
        self.poller.poll(ms)

    def _coming(self):
        """Bytes the client will still get without the Peer doing more: arrived, on the wire, queued."""
        return len(self.rx) + self.queued - self.taken + (len(self.peer.inbox) if self._current() else 0)

    # --- FakeSocket's interface ---------------------------------------------------------------
    def write(self, buf, n=None):
        if self.closed:
            raise OSError(errno.ECONNRESET)  # as FakeSocket (the library never writes a closed socket)
        if isinstance(buf, str):
            buf = buf.encode()
        data = bytes(buf if n is None else memoryview(buf)[:n])
        self._pump()
        start = time.ticks_ms()
        while (self.cut or self._closing()) and self._gather() != 0:
            # The scenario closed the peer: the write goes out once the client has the close (EOF),
            # so it meets a dropped pair as FakeSocket's write meets a closed peer.
            self._bound(start, "the close")
            self._wait(20)
            self._pump()
        mv = memoryview(data)
        k = 0
        while k < len(data):
            w = self.c.write(mv[k:])  # a reset raises here, as a real write's would
            if w:
                k += w
                continue
            self._bound(start, "window for the client's write")  # full: the peer side must take some in
            self._pump()
            self._wait(20, True)
        self.sent += len(data)
        while not self.cut and self.p is not None and self.got < self.sent:
            # Synchronous as FakeSocket: the Peer has seen all of it before write() returns.
            self._bound(start, "%d bytes the client wrote" % (self.sent - self.got))
            self._wait(20)
            self._pump()
        self._pump()  # its answers go on the wire now; a read waits for them
        return len(data)

    def read(self, n):
        if self.closed:
            raise OSError(errno.EBADF)
        if n > 1 << 20:
            raise MemoryError("read(%d)" % n)  # MicroPython allocates the n bytes before reading
        start = time.ticks_ms()
        expire = None
        while True:
            self._pump()
            eof = len(self.rx) < n and self._gather() == 0
            have = len(self.rx)
            if have >= n or eof:
                break
            coming = self._coming()
            if self.cut or self._closing() or coming >= n:
                self._bound(start, "%d bytes the peer sent" % (coming - have))  # they are on their way
            elif not self.blocking:
                if have >= coming:
                    break  # all the Peer queued is here: what is there
                self._bound(start, "%d bytes the peer sent" % (coming - have))
            elif self.timeout is None:
                raise Blocked("a read with no timeout would block forever")
            else:
                # What the Peer queued cannot make n bytes (mute, withheld): the real socket stays
                # quiet for the timeout, as long as a real socket would wait.
                if expire is None:
                    expire = time.ticks_add(start, int(self.timeout * 1000))
                if time.ticks_diff(expire, time.ticks_ms()) <= 0:
                    raise OSError(errno.ETIMEDOUT)
            self._wait(20)
        if not self.rx:
            return b"" if eof else None
        out = bytes(self.rx[:n])
        self.rx = self.rx[n:]
        return out

    def readinto(self, buf, n=None):
        """As MicroPython's: non-blocking, what is there (None: nothing); blocking, all of buf or a timeout."""
        data = self.read(len(buf) if n is None else n)
        if data is None:
            return None
        buf[:len(data)] = data
        return len(data)

    def close(self):
        self.closed = True
        for s in (self.c, self.p):
            if s is not None:
                s.close()
        self.c = self.p = self.poller = None
        if self in _live:
            _live.remove(self)

    def _bound(self, start, what):
        if time.ticks_diff(time.ticks_ms(), start) > WAIT_MS:
            raise RelayFault("%s did not cross in %d ms" % (what, WAIT_MS))


class RelayFault(BaseException):
    """The harness failed, not the library: past the library's `except Exception` to the runner."""


# --- host side (CPython only): the relay server -------------------------------------------------
class Relay:
    """Pairs a device's two connections by number and copies bytes both ways; when either end closes
    (or resets), the other is closed too, after what was on its way has been passed on."""

    def __init__(self, host):
        import socket as s
        import threading
        self._s = s
        self._threading = threading
        self._lock = threading.Lock()
        self._waiting = {}  # pair number (bytes) -> the peer side's connection
        self._next = 0
        self.sock = s.socket()
        self.sock.setsockopt(s.SOL_SOCKET, s.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(64)
        self.address = "%s:%d" % (host, self.sock.getsockname()[1])
        self.pairs = 0
        threading.Thread(target=self._serve, daemon=True, name="rogue-relay").start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self._threading.Thread(target=self._hello, args=(conn,), daemon=True).start()

    def _hello(self, conn):
        s = self._s
        conn.setsockopt(s.IPPROTO_TCP, s.TCP_NODELAY, 1)
        conn.settimeout(WAIT_MS / 1000)
        line = b""
        try:
            while not line.endswith(b"\n") and len(line) < 32:
                b = conn.recv(1)  # one byte at a time: what follows the hello is the client's
                if not b:
                    break
                line += b
        except OSError:
            line = b""
        conn.settimeout(None)
        if line == b"p\n":
            with self._lock:
                self._next += 1
                n = self._next
                self._waiting[b"%d" % n] = conn
            conn.sendall(b"%d\n" % n)
            return
        with self._lock:
            peer = self._waiting.pop(line[2:-1], None) if line[:2] == b"c " else None
        if peer is None:
            conn.close()  # not a hello of ours
            return
        self.pairs += 1
        done = self._threading.Lock()
        for a, b in ((conn, peer), (peer, conn)):
            self._threading.Thread(target=self._copy, args=(a, b, done), daemon=True).start()

    def _copy(self, src, dst, done):
        s = self._s
        while True:
            try:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
            except OSError:
                break
        # One end is gone: the other goes too (shutdown wakes the other copier out of its recv).
        first = done.acquire(False)
        for x in (dst, src):
            try:
                x.shutdown(s.SHUT_RDWR)
            except OSError:
                pass
        if not first:
            src.close()
            dst.close()

    def close(self):
        self.sock.close()


_relay = None


def serve(host):
    """The process's one relay, listening on host (started on first use)."""
    global _relay
    if _relay is None:
        _relay = Relay(host)
    return _relay
