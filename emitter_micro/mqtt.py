"""MQTT 3.1.1 as emitter_micro speaks it: every packet it writes, encoded once into the caller's buffer,
and one incremental parser for what arrives. No I/O here: each client reads and writes its own way."""
import struct

from micropython import const

PUBLISH = const(0x30)
PUBACK = const(0x40)
SUBSCRIBE = const(0x82)
SUBACK = const(0x90)
UNSUBSCRIBE = const(0xA2)
UNSUBACK = const(0xB0)
PINGREQ = b"\xc0\x00"
DISCONNECT = b"\xe0\x00"
_START = const(256)  # the parser's buffer at first; it doubles to hold two packets of the largest size seen
_MOST = const(4096)  # past this a packet gets a buffer of its own, dropped once it is parsed


def header(buf, first, n):
    """Write a fixed header (first byte, remaining length n) into buf; return its length."""
    buf[0] = first
    i = 1
    while n > 0x7F:
        buf[i] = n & 0x7F | 0x80
        n >>= 7
        i += 1
    buf[i] = n
    return i + 1


def wire(topic):
    """A topic as a packet carries it: its length in front."""
    return struct.pack("!H", len(topic)) + topic


def publish(buf, topic, qos, retain, pid, size):
    """The head of a PUBLISH of size payload bytes to topic (from wire()) into buf, packet id included;
    return its length. The payload follows in buf or in a write of its own."""
    i = header(buf, 0x30 | qos << 1 | retain, len(topic) + 2 * qos + size)
    j = i + len(topic)
    buf[i:j] = topic
    if qos:
        struct.pack_into("!H", buf, j, pid)
        j += 2
    return j


def subscription(buf, kind, pid, topic):
    """SUBSCRIBE (QoS 0) or UNSUBSCRIBE of topic (bytes) into buf; return its length."""
    extra = 1 if kind == SUBSCRIBE else 0
    i = header(buf, kind, 4 + len(topic) + extra)
    struct.pack_into("!HH", buf, i, pid, len(topic))
    i += 4
    j = i + len(topic)
    buf[i:j] = topic
    if extra:
        buf[j] = 0
    return j + extra


def puback(buf, pid):
    """PUBACK for pid into buf; return its length."""
    struct.pack_into("!BBH", buf, 0, PUBACK, 2, pid)
    return 4


def size(topic, msg, qos):
    """The bytes of a PUBLISH, fixed header included."""
    n = 2 + len(topic) + len(msg) + 2 * qos
    return n + (2 if n < 0x80 else 3 if n < 0x4000 else 4)


def connect(client_id, keepalive, will=None, user=None):
    """CONNECT with a clean session (the broker keeps none); will: (topic, message, retain)."""
    parts = [client_id]
    flags = 2
    if will:
        flags |= 0x24 if will[2] else 4
        parts += will[:2]
    if user:
        flags |= 0x80
        parts.append(user)
    n = 10
    for p in parts:
        n += 2 + len(p)
    b = bytearray(n + 4)
    i = header(b, 0x10, n)
    struct.pack_into("!H4sBBH", b, i, 4, b"MQTT", 4, flags, keepalive)
    i += 10
    for p in parts:
        struct.pack_into("!H", b, i, len(p))
        b[i + 2:i + 2 + len(p)] = p
        i += 2 + len(p)
    return memoryview(b)[:i]


class Parser:
    """Packets out of what arrived, in one buffer kept for the connection: buf[i:n] is read, not parsed.

    next() gives the next whole packet as (first byte, where its body starts, where it ends) and moves
    past it; space() makes room for the rest of a packet that has only started, and tells where the next
    read goes. Its state lives in the object: a handler may read on from where a packet left off.
    """

    def __init__(self):
        self.i = self.n = self.need = 0
        self._new(_START)

    def _new(self, n):
        self.buf = bytearray(n)  # a MemoryError if the heap cannot: a packet larger than any heap
        self.mv = memoryview(self.buf)

    def reset(self):
        """A new connection: nothing of the last one is kept."""
        self.i = self.n = self.need = 0

    def next(self):
        buf, i, n = self.buf, self.i, self.n
        j = i + 1
        size = shift = 0
        while j < n:
            b = buf[j]
            j += 1
            size |= (b & 0x7F) << shift
            if b < 0x80:
                end = j + size
                if end > n:
                    break
                self.i = end
                self.need = 0
                return buf[i], j, end
            shift += 7
            if shift > 21:
                raise ValueError("malformed packet length")
        else:
            self.need = 0 if i == n else 1  # nothing pending, or a header not all in yet
            return None
        self.need = end - n  # the rest of a packet that has started
        return None

    def space(self):
        """Where the next read goes: the free part of the buffer, made to hold the packet in progress."""
        i, n, b = self.i, self.n, self.buf
        want = n - i + self.need
        if i == n:
            if len(b) > _MOST:
                self._new(_START)  # the buffer of one large packet: back to a small one
        elif want > len(b):
            k = len(b)
            while k < 2 * want and k < _MOST:
                k *= 2  # a torn packet and the next one
            self._new(max(k, want))
            self.buf[:n - i] = memoryview(b)[i:n]
        elif i:
            b[:n - i] = self.mv[i:n]
        self.i, self.n = 0, n - i
        return self.mv[self.n:] if self.n else self.mv

    def topic(self, j):
        """(start, end) of the topic of a PUBLISH whose body starts at j."""
        a = j + 2
        return a, a + (self.buf[j] << 8 | self.buf[j + 1])
