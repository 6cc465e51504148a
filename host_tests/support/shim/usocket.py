"""A MicroPython-like `usocket` over CPython sockets (host tests only).

Behaves like the MicroPython unix port where device code can tell:
- a timeout raises OSError(110) (ETIMEDOUT), never socket.timeout;
- with SHIM_ERRNO=esp32 (shim/errnos.py) every OSError it raises or passes on carries ESP32's
  number for its name (ETIMEDOUT 116, ENOTCONN 128, ...), not Linux's;
- read()/readinto()/write() in non-blocking mode return None when the call
  would block, and what is there when only part of it is;
- read(n) in blocking mode loops until n bytes or EOF (b"" at EOF);
- write() accepts str (encoded as UTF-8) and an optional length.
"""
import socket as _s
import ssl as _ssl

from . import errnos as _errnos

AF_INET = _s.AF_INET
AF_INET6 = _s.AF_INET6
SOCK_STREAM = _s.SOCK_STREAM
SOCK_DGRAM = _s.SOCK_DGRAM
SOCK_RAW = _s.SOCK_RAW
IPPROTO_IP = _s.IPPROTO_IP
IPPROTO_TCP = _s.IPPROTO_TCP
IPPROTO_UDP = _s.IPPROTO_UDP
SOL_SOCKET = _s.SOL_SOCKET
SO_REUSEADDR = _s.SO_REUSEADDR
SO_KEEPALIVE = _s.SO_KEEPALIVE
TCP_NODELAY = _s.TCP_NODELAY
MSG_PEEK = getattr(_s, "MSG_PEEK", 2)
MSG_DONTWAIT = getattr(_s, "MSG_DONTWAIT", 64)

error = OSError

# What a non-blocking call raises when it would block (plain or TLS socket).
_WOULD_BLOCK = (BlockingIOError, _ssl.SSLWantReadError, _ssl.SSLWantWriteError)


def _timeout_error():
    return _errnos.error("ETIMEDOUT")


def _again_error():
    return _errnos.error("EAGAIN")


def getaddrinfo(host, port, af=0, type=0, proto=0, flags=0):
    """Resolve like MicroPython: [(af, type, proto, '', (host, port))]."""
    infos = _s.getaddrinfo(host, port, af or AF_INET, type or SOCK_STREAM, proto, flags)
    return [(fam, typ, pro, "", tuple(sa[:2])) for fam, typ, pro, _c, sa in infos]


def _as_bytes(buf, n=None):
    if isinstance(buf, str):
        buf = buf.encode("utf-8")
    mv = memoryview(buf).cast("B")
    if n is not None:
        mv = mv[:n]
    return mv


class socket:
    """A stream socket with MicroPython's methods and error behaviour."""

    def __init__(self, af=AF_INET, type=SOCK_STREAM, proto=0, _sock=None):
        self._sock = _sock if _sock is not None else _s.socket(af, type, proto)
        self._timeout = None  # None: blocking, 0: non-blocking, >0: seconds
        self._sock.settimeout(None)

    @classmethod
    def _wrap(cls, raw, timeout=None):
        obj = cls.__new__(cls)
        obj._sock = raw
        obj._timeout = None
        obj.settimeout(timeout)
        return obj

    # --- configuration -------------------------------------------------
    def settimeout(self, t):
        if t is not None and t < 0:
            raise ValueError("timeout must be >= 0")
        self._timeout = t
        self._sock.settimeout(t)

    def setblocking(self, flag):
        self.settimeout(None if flag else 0)

    def setsockopt(self, level, opt, value):
        self._sock.setsockopt(level, opt, value)

    def fileno(self):
        return self._sock.fileno()

    # --- connection ----------------------------------------------------
    def connect(self, addr):
        try:
            self._sock.connect(tuple(addr))
        except _s.timeout:
            raise _timeout_error() from None
        except BlockingIOError as e:
            raise _errnos.error("EINPROGRESS") from e

    def bind(self, addr):
        self._sock.bind(tuple(addr))

    def listen(self, backlog=5):
        self._sock.listen(backlog)

    def accept(self):
        try:
            raw, addr = self._sock.accept()
        except _s.timeout:
            raise _timeout_error() from None
        except _WOULD_BLOCK:
            raise _again_error() from None
        return socket._wrap(raw), addr

    def close(self):
        self._sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- low level -----------------------------------------------------
    def _recv_once(self, n):
        """One recv: bytes (b"" at EOF), None if it would block; timeout raises."""
        try:
            return self._sock.recv(n)
        except _s.timeout:
            raise _timeout_error() from None
        except _WOULD_BLOCK:
            return None

    def recv(self, n):
        data = self._recv_once(n)
        if data is None:
            raise _again_error()
        return data

    def send(self, buf):
        try:
            return self._sock.send(_as_bytes(buf))
        except _s.timeout:
            raise _timeout_error() from None
        except _WOULD_BLOCK:
            raise _again_error() from None

    def sendall(self, buf):
        self.write(buf)

    # --- stream interface ----------------------------------------------
    def read(self, n=None):
        if n is None:
            chunks = []
            while True:
                data = self._recv_once(4096)
                if data is None:
                    if not chunks:
                        return None
                    break
                if not data:
                    break
                chunks.append(data)
            return b"".join(chunks)
        buf = bytearray(n)
        got = self.readinto(buf, n)
        if got is None:
            return None
        return bytes(buf[:got])

    def readinto(self, buf, n=None):
        mv = memoryview(buf).cast("B")
        if n is None or n > len(mv):
            n = len(mv)
        done = 0
        while done < n:
            try:
                got = self._sock.recv_into(mv[done:n], n - done)
            except _s.timeout:
                raise _timeout_error() from None
            except _WOULD_BLOCK:
                if done == 0:
                    return None
                break
            if got == 0:
                break
            done += got
        return done

    def readline(self):
        line = bytearray()
        while True:
            data = self._recv_once(1)
            if data is None:
                if not line:
                    return None
                break
            if not data:
                break
            line += data
            if data == b"\n":
                break
        return bytes(line)

    def write(self, buf, n=None):
        mv = _as_bytes(buf, n)
        total = len(mv)
        done = 0
        while done < total:
            try:
                sent = self._sock.send(mv[done:])
            except _s.timeout:
                raise _timeout_error() from None
            except _WOULD_BLOCK:
                if done == 0:
                    return None
                break
            done += sent
            if self._timeout == 0:
                break
        return done

    def makefile(self, *args, **kwargs):
        return self

    def __repr__(self):
        return "<shim usocket fd=%d>" % self._sock.fileno()


# SHIM_ERRNO=esp32: what the kernel raises (Linux numbers) leaves these with ESP32's.
getaddrinfo = _errnos.translating(getaddrinfo)
for _name in ("__init__", "settimeout", "setblocking", "setsockopt", "fileno", "connect", "bind", "listen",
              "accept", "close", "recv", "send", "sendall", "read", "readinto", "readline", "write"):
    setattr(socket, _name, _errnos.translating(getattr(socket, _name)))
