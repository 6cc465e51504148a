"""The socket under umqtt.simple: every read bounded by the timeout, TLS when asked."""
from micropython import const

_ETIMEDOUT = const(110)
_EAGAIN = const(11)


class Link:
    """Stands in for umqtt's socket, and for its socket module while it connects.

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
        self.raw = self.s = None
        self.poll = self.idle = False

    def socket(self, *args):
        """umqtt.simple's connect() asks its socket module for a socket: this link."""
        self.raw = self.s = self.net.socket(*args)
        self.raw.settimeout(self.t)
        try:
            # TCP_NODELAY: an ack wait must not sit behind Nagle's delay. Not every port has it.
            self.raw.setsockopt(6, 1, 1)
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

    def settimeout(self, t):
        """umqtt.simple 1.8 passes its own (None: no timeout); ours stays."""

    def setblocking(self, flag):
        if flag:
            self.poll = False
            self.raw.settimeout(self.t)
        else:
            self.s.setblocking(False)

    def wait(self, ms):
        """Let the next first read wait at most ms for a byte, then report idle."""
        self.poll = True
        self.idle = False
        if ms > 0:
            self.raw.settimeout(ms / 1000)
        else:
            self.s.setblocking(False)

    def read(self, n):
        try:
            r = self.s.read(n)
        except OSError as e:
            if not (self.poll and e.args[0] in (_ETIMEDOUT, _EAGAIN)):
                raise
            r = None
        if r is None:
            self.idle = True
        return r

    def close(self):
        if self.s:
            self.s.close()
