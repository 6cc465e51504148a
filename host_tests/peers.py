"""A scripted MQTT peer on a real loopback socket (plain or TLS), for tests of the link itself.

Not a broker: each connection gets a fakepeer.Peer that answers the packets as
the real Emitter broker is documented to; the tests that need the broker are in
test_real_broker*.py. What this adds over the in-process fake is real TCP: real
timeouts, resets, half-open links (with tools/tcpproxy.py), TLS handshakes.
"""
import socket
import ssl
import threading

import fakepeer


def ssl_context(certfile, keyfile):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certfile, keyfile)
    return ctx


class PeerServer:
    """Accepts connections and answers MQTT through fakepeer.Peer; records what each connection got.

    On the first connection only (later ones are well behaved, so recovery can be seen):
    garbage: bytes sent right after the CONNACK; reset_after: an RST after that many packets.
    """

    def __init__(self, tls=None, garbage=None, reset_after=None):
        self.ctx = tls
        self.garbage = garbage
        self.reset_after = reset_after
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.peers = []
        self.handshake_errors = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                raw, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._conn, args=(raw,), daemon=True).start()

    def _conn(self, raw):
        raw.settimeout(30)
        conn = raw
        if self.ctx:
            try:
                conn = self.ctx.wrap_socket(raw, server_side=True)
            except (ssl.SSLError, OSError) as e:
                self.handshake_errors.append(str(e))
                raw.close()
                return
        peer = fakepeer.Peer()
        self.peers.append(peer)
        first = len(self.peers) == 1
        try:
            while True:
                data = conn.recv(4096)
                if not data:
                    break
                peer._got(data)
                if first and self.garbage and peer.connects and peer.inbox[:1] == b"\x20":
                    peer.inbox += self.garbage
                if peer.inbox:
                    conn.sendall(bytes(peer.inbox))
                    peer.inbox = bytearray()
                if first and self.reset_after and len(peer.sent) >= self.reset_after:
                    raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    break
        except OSError:
            pass
        conn.close()

    def close(self):
        self.sock.close()
