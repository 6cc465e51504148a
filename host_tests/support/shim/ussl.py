"""A MicroPython-like `ssl`/`ussl` for the host: wraps shim sockets.

Registered as `ussl` and `tls` only; CPython's own `ssl` module stays as it
is. Device code that wants TLS on both sides can use what this offers:
`wrap_socket(sock, server_side=False, key=None, cert=None, cert_reqs=CERT_NONE,
cadata=None, server_hostname=None)` and `SSLContext(PROTOCOL_TLS_CLIENT)` with
`verify_mode`, `load_verify_locations(cafile=None, cadata=None)` and
`wrap_socket(sock, server_hostname=None)`.
With SHIM_ERRNO=esp32 an OSError out of wrap_socket carries ESP32's number (shim/errnos.py).
"""
import ssl as _ssl

from . import errnos as _errnos
from . import usocket as _usocket

CERT_NONE = _ssl.CERT_NONE
CERT_OPTIONAL = _ssl.CERT_OPTIONAL
CERT_REQUIRED = _ssl.CERT_REQUIRED
PROTOCOL_TLS_CLIENT = _ssl.PROTOCOL_TLS_CLIENT
PROTOCOL_TLS_SERVER = _ssl.PROTOCOL_TLS_SERVER
MBEDTLS_VERSION = "host-shim"


class SSLContext:
    def __init__(self, protocol=PROTOCOL_TLS_CLIENT):
        self._ctx = _ssl.SSLContext(protocol)
        if protocol == PROTOCOL_TLS_CLIENT:
            # MicroPython's default for a client context is CERT_NONE.
            self._ctx.check_hostname = False
            self._ctx.verify_mode = CERT_NONE

    @property
    def verify_mode(self):
        return self._ctx.verify_mode

    @verify_mode.setter
    def verify_mode(self, mode):
        if mode == CERT_NONE:
            self._ctx.check_hostname = False
        self._ctx.verify_mode = mode

    def load_verify_locations(self, cafile=None, cadata=None):
        if isinstance(cadata, (bytes, bytearray)) and not bytes(cadata).startswith(b"-----"):
            self._ctx.load_verify_locations(cadata=bytes(cadata))  # DER
        elif cadata is not None:
            self._ctx.load_verify_locations(cadata=bytes(cadata).decode() if not isinstance(cadata, str) else cadata)
        else:
            self._ctx.load_verify_locations(cafile=cafile)

    def load_cert_chain(self, certfile, keyfile):
        self._ctx.load_cert_chain(certfile, keyfile)

    def wrap_bio(self, incoming, outgoing, server_side=False, server_hostname=None):
        """What CPython's asyncio calls for open_connection(ssl=ctx) (emitter_micro.aio)."""
        if self._ctx.verify_mode != CERT_NONE and server_hostname:
            self._ctx.check_hostname = True
        return self._ctx.wrap_bio(incoming, outgoing, server_side=server_side, server_hostname=server_hostname)

    def wrap_socket(self, sock, server_side=False, do_handshake=True, server_hostname=None):
        if self._ctx.verify_mode != CERT_NONE and server_hostname:
            self._ctx.check_hostname = True
        raw = sock._sock if isinstance(sock, _usocket.socket) else sock
        timeout = sock._timeout if isinstance(sock, _usocket.socket) else None
        raw.settimeout(timeout)
        wrapped = self._ctx.wrap_socket(raw, server_side=server_side,
                                        do_handshake_on_connect=do_handshake,
                                        server_hostname=server_hostname)
        if isinstance(sock, _usocket.socket):
            # CPython detaches the TCP socket; on MicroPython it stays usable and its
            # timeout governs the TLS reads: keep that by pointing it at the TLS socket.
            sock._sock = wrapped
        return _usocket.socket._wrap(wrapped, timeout)


def wrap_socket(sock, server_side=False, key=None, cert=None, cert_reqs=CERT_NONE,
                cadata=None, server_hostname=None, do_handshake=True):
    ctx = SSLContext(PROTOCOL_TLS_SERVER if server_side else PROTOCOL_TLS_CLIENT)
    if cert_reqs != CERT_NONE:
        ctx.verify_mode = cert_reqs
    if cadata is not None:
        ctx.load_verify_locations(cadata=cadata)
    return ctx.wrap_socket(sock, server_side=server_side, do_handshake=do_handshake,
                           server_hostname=server_hostname)


# SHIM_ERRNO=esp32: a handshake's OSError (a reset, a timeout) leaves with ESP32's number.
wrap_socket = _errnos.translating(wrap_socket)
SSLContext.wrap_socket = _errnos.translating(SSLContext.wrap_socket)
