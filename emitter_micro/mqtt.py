"""MQTT 3.1.1 as emitter_micro writes it: every packet both clients write, encoded once into the caller's
buffer, and a publish's payload as bytes (the CONNECT only the asyncio client writes is aio.py's;
parser.py reads what arrives). No I/O here: each client writes its own way."""
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


def payload(message):
    """The bytes to send for a message: str, bytes-like, or dict/list as JSON."""
    if isinstance(message, str):
        return message.encode()
    if isinstance(message, (bytes, bytearray, memoryview)):
        return message
    if isinstance(message, (dict, list)):
        import json
        return json.dumps(message).encode()
    raise TypeError("message must be str, bytes, bytearray, memoryview, dict or list")
