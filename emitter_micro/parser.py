"""MQTT 3.1.1 as emitter_micro reads it: one incremental parser over one buffer, for both clients (mqtt.py
writes). Loaded by a device that subscribes (the sync client's receive.py) and by the asyncio client."""
from micropython import const

_START = const(256)  # the buffer at first; it doubles to hold two packets of the largest size seen
_MOST = const(4096)  # past this a packet gets a buffer of its own, dropped once it is parsed
# The Emitter broker sends no payload past 64 KB (its MaxMessageSize); a longer packet is garbage and
# must not take the heap (a length field of 0xFFFFFF7F would ask for 256 MB).
_LARGEST = const(66560)


class Parser:
    """Packets out of what arrived, in one buffer kept for the connection: buf[i:n] is read, not parsed.

    next() gives the first byte of the next whole packet (-1: none yet) and moves past it; its body is
    buf[j:end]. space() makes room for the rest of a packet that has only started, and tells where the
    next read goes. Its state lives in the object: a handler may read on from where a packet left off.
    """

    def __init__(self, size=_START):
        self.i = self.n = self.need = self.j = self.end = 0
        self.topic = self.chan = None  # the topic last heard, and as text: a device hears few, decoded once each
        self.deliver = None  # subscriptions.deliver, loaded with the first PUBLISH (an asyncio device may hear none)
        self._new(size)

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
                if size > _LARGEST:
                    raise ValueError("packet of %d bytes: more than the broker sends" % size)
                end = j + size
                if end > n:
                    break
                self.i = self.end = end
                self.j = j
                self.need = 0
                return buf[i]
            shift += 7
            if shift > 21:
                raise ValueError("malformed packet length")
        else:
            self.need = 0 if i == n else 1  # nothing pending, or a header not all in yet
            return -1
        self.need = end - n  # the rest of a packet that has started
        return -1

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

    def message(self, em, first):
        """The PUBLISH just parsed delivered to em's handlers (its topic compared in place with the last
        one); returns its packet id (QoS 1), else 0."""
        buf, mv = self.buf, self.mv  # two at a time: four build a tuple
        j, end = self.j, self.end
        a = j + 2
        b = a + (buf[j] << 8 | buf[j + 1])
        body = b + (2 if first & 6 else 0)
        if body > end or first & 6 > 2:
            raise ValueError("malformed PUBLISH" if body > end else "QoS 2 is not supported")
        t = self.topic
        if t is None or len(t) != b - a or mv[a:b] != t:
            self.topic = t = bytes(mv[a:b])
            self.chan = t.decode()
        d = self.deliver
        if d is None:
            from .subscriptions import deliver as d
            self.deliver = d
        d(em, t, self.chan, bytes(mv[body:end]))
        return buf[b] << 8 | buf[b + 1] if first & 6 else 0
