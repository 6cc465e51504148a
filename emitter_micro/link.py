"""The sync client's socket under umqtt.simple: every read bounded by the timeout, TLS when asked."""
import errno
import select


class Link:
    """Stands in for umqtt's socket, and for its socket module while it connects (client.py says why).

    umqtt.simple calls setblocking(True) after each first read, which clears a
    socket timeout: here that restores the timeout instead, so no read can
    block forever on a dead link, on every umqtt.simple version.
    """

    def __init__(self, net, timeout, tls=None, host=None):
        self.net = net
        self.getaddrinfo = net.getaddrinfo
        self.t = timeout
        self.tls = tls
        self.host = host
        self.raw = self.s = self.poller = None
        self.poll = self.idle = False
        self.write = _closed
        self.ping_at = None  # when a ping went unanswered on this link (loop() keeps the link alive)

    def socket(self, *args):
        """umqtt.simple's connect() asks its socket module for a socket: this link."""
        self.raw = self.s = self.net.socket(*args)
        self.raw.settimeout(self.t)
        net = self.net
        # TCP_NODELAY: an ack wait must not sit behind Nagle's delay. Not on modlwip (Pico W): there
        # small writes sent at once fill lwIP's 32-segment queue when acks are slow, and its write then
        # stalls 10 s whatever the timeout (micropython#19704); Nagle merges them into full segments.
        if getattr(net, "__name__", "") != "lwip":
            try:
                # The port's numbers; the unix port names neither and takes Linux's.
                self.raw.setsockopt(getattr(net, "IPPROTO_TCP", 6), getattr(net, "TCP_NODELAY", 1), 1)
            except (OSError, AttributeError):
                pass
        self.write = self.s.write
        return self

    def connect(self, addr):
        self.raw.connect(addr)
        if self.tls:
            # MicroPython's SSL socket has no settimeout(): the TCP socket under it keeps one.
            self.s = self.tls.wrap_socket(self.raw, server_hostname=self.host)
            self.write = self.s.write
        try:
            # Waiting for traffic is a poll, not a read timeout: on MicroPython a read that times
            # out leaves a TLS socket broken for good.
            p = select.poll()
            p.register(self.s, select.POLLIN)
            self.poller = getattr(p, "ipoll", p.poll)  # ipoll allocates no result list
        except Exception:
            self.poller = None  # a stand-in socket with nothing to poll: read timeouts instead

    def settimeout(self, t):
        """umqtt.simple 1.8 passes its own (None: no timeout); ours stays."""

    def setblocking(self, flag):
        if flag:
            self.poll = False
            self._block(self.t)
        else:
            self.s.setblocking(False)

    def wait(self, ms):
        """Let the next first read wait at most ms for a byte, then report idle."""
        self.poll = True
        self.idle = False
        if ms > 0 and not self.poller:
            self._block(ms / 1000)
            return
        if ms > 0:
            self.poller(ms)
        self.s.setblocking(False)

    def _block(self, t):
        if self.s is None:
            _closed()
        if self.s is not self.raw:
            # MicroPython's TLS socket keeps a blocking flag of its own: non-blocking, its
            # writes fail with EAGAIN and its reads return None mid-packet.
            self.s.setblocking(True)
        self.raw.settimeout(t)

    def read(self, n):
        try:
            r = self.s.read(n)
        except OSError as e:
            # The port's numbers, by name: ESP32 times out with 116, not Linux's 110. One by one:
            # `in (a, b)` builds a tuple per call when loaded from .mpy.
            c = e.args[0]
            if not (self.poll and (c == errno.ETIMEDOUT or c == errno.EAGAIN)):
                raise
            r = None
        if r is None:
            self.idle = True
        return r

    def close(self):
        # Nothing may touch a closed TLS socket again (MicroPython can crash on it): the
        # next use raises here instead, which the client takes as a dead link.
        s, self.s = self.s, None
        self.write = _closed
        self.poller = None
        if s:
            s.close()


def _closed(*args):
    raise OSError(errno.EBADF)
