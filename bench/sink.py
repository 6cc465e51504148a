"""A loopback MQTT sink for client-side benchmarks when the Emitter broker cannot be run.

NOT a broker and never used in its place for a broker figure: it answers CONNECT,
SUBSCRIBE, PINGREQ and QoS 1 PUBLISH, and echoes each PUBLISH back as the
broker would (topic KEY/CHANNEL/?opts delivered as CHANNEL/) to a connection
that subscribed, so client-side costs (allocation, throughput relative to raw
umqtt.simple, heap) can be measured over one identical peer.
"""
import socket
import struct
import threading


def _publish(topic, payload):
    body = struct.pack("!H", len(topic)) + topic + payload
    n = len(body)
    head = bytearray([0x30])
    while True:
        b = n & 0x7F
        n >>= 7
        head.append(b | (0x80 if n else 0))
        if not n:
            break
    return bytes(head) + body


class Sink:
    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.published = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._conn, args=(conn,), daemon=True).start()

    def _conn(self, conn):
        buf = bytearray()
        subs = []
        drain = False
        try:
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
                out = bytearray()
                i = 0
                while True:
                    if len(buf) - i < 2:
                        break
                    n, sh, j = 0, 0, i + 1
                    while j < len(buf):
                        b = buf[j]
                        n |= (b & 0x7F) << sh
                        sh += 7
                        j += 1
                        if not b & 0x80:
                            break
                    else:
                        break
                    if b & 0x80 or len(buf) < j + n:
                        break
                    first, body = buf[i], bytes(buf[j:j + n])
                    i = j + n
                    kind = first & 0xF0
                    if kind == 0x10:
                        out += b"\x20\x02\x00\x00"
                        drain = b"bench-drain" in body
                    elif kind == 0x30:
                        self.published += 1
                        tl = body[0] << 8 | body[1]
                        topic = body[2:2 + tl]
                        at = 2 + tl
                        if first & 6:
                            out += b"\x40\x02" + body[at:at + 2]
                            at += 2
                        ch = topic.partition(b"/")[2].partition(b"?")[0]
                        if any(ch.startswith(s) for s in subs):
                            out += _publish(ch, body[at:])
                    elif kind == 0x80:
                        tl = body[2] << 8 | body[3]
                        subs.append(body[4:4 + tl].partition(b"/")[2].partition(b"?")[0])
                        out += b"\x90\x03" + body[:2] + b"\x00"
                    elif kind == 0xA0:
                        out += b"\xb0\x02" + body[:2]
                    elif kind == 0xC0:
                        out += b"\xd0\x00"
                    elif kind == 0xE0:
                        return
                del buf[:i]
                if out:
                    conn.sendall(out)
                if drain:
                    self._drain(conn, buf)
                    return
        except OSError:
            pass
        finally:
            conn.close()

    def _drain(self, conn, buf):
        """QoS 0 throughput runs: count bytes, answer nothing, parse nothing."""
        while conn.recv(1 << 20):
            pass

    def close(self):
        self.sock.close()
