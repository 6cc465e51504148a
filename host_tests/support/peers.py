"""A scripted MQTT peer on a real loopback socket, for what no broker sends: garbage.

Not a broker: each connection gets a rogue_peer.Peer that answers the packets as
the real Emitter broker is documented to. Faults a network makes (half-open,
reset, torn packets, a slow or cut link) go through Toxiproxy in front of the
real broker instead (host_tests/support/toxiproxy.py, resilience/bs_resilience.py).
"""
import socket
import threading

import netns
import rogue_peer


class PeerServer:
    """Accepts connections and answers MQTT through rogue_peer.Peer; records what each connection got.

    garbage: bytes sent right after the first connection's CONNACK (later connections are well
    behaved, so recovery can be seen).
    """

    def __init__(self, garbage=None):
        self.garbage = garbage
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((netns.HOST, 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.peers = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._conn, args=(conn,), daemon=True).start()

    def _conn(self, conn):
        conn.settimeout(30)
        peer = rogue_peer.Peer()
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
        except OSError:
            pass
        conn.close()

    def close(self):
        self.sock.close()
