"""The rogue peer: an in-process fake socket with a scripted MQTT peer, for what no broker sends.

Garbage, packets announced larger than any heap, answers for other requests, acks
and answers withheld while the link stays up (host_tests/link_faults/rogue_scenarios/, and
host_tests/support/peers.py behind real TCP). Everything a real broker can show is
tested against the real broker instead (host_tests/<feature>/bs_*.py).

Runs unchanged under CPython (through the shim) and the MicroPython unix port.
It is NOT a broker: it answers the way the real Emitter broker is documented to
(shared/emitter-protocol.md) unless a scenario makes it misbehave, and records
every packet the client wrote.  A read that would block with no timeout set
fails the scenario: that is a call that could block forever on a real link.
"""
import errno  # the port's numbers (ESP32's with SHIM_ERRNO=esp32 under the shim), as a real socket raises
import json
import struct
import time


KEY = "Ab3_kEy-0123456789abcdefghijklmn"  # a channel key as scenarios use it: nothing checks it here


class Blocked(AssertionError):
    pass


def varlen(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def packet(first, body):
    return bytes([first]) + varlen(len(body)) + body


def publish(topic, payload, qos=0, pid=0):
    if isinstance(topic, str):
        topic = topic.encode()
    if isinstance(payload, str):
        payload = payload.encode()
    body = struct.pack("!H", len(topic)) + topic
    if qos:
        body += struct.pack("!H", pid)
    return packet(0x30 | qos << 1, body + payload)


class Packet:
    def __init__(self, first, body):
        self.first = first
        self.kind = first & 0xF0
        self.body = body

    def topic(self):
        """Topic of a PUBLISH, SUBSCRIBE or UNSUBSCRIBE."""
        at = 0 if self.kind == 0x30 else 2
        n = self.body[at] << 8 | self.body[at + 1]
        return bytes(self.body[at + 2:at + 2 + n])

    def pid(self):
        if self.kind == 0x30:
            n = 2 + (self.body[0] << 8 | self.body[1])
            return self.body[n] << 8 | self.body[n + 1]
        return self.body[0] << 8 | self.body[1]

    def payload(self):
        n = 2 + (self.body[0] << 8 | self.body[1])
        if self.first & 6:
            n += 2
        return bytes(self.body[n:])


class Peer:
    """The far end. Scenarios queue bytes with feed() and read what the client sent in .sent."""

    def __init__(self):
        self.sent = []          # Packet objects the client wrote, in order
        self.inbox = bytearray()  # bytes the client will read
        self.out = bytearray()
        self.connected = False
        self.closed = False
        self.mute = False       # half-open: accepts writes, never answers
        self.auto = True        # answer CONNECT/SUBSCRIBE/PUBLISH qos1/PINGREQ/UNSUBSCRIBE
        self.answers = {}       # b"keygen" -> function(request dict, pid) -> answer dict
        self.echo = True        # deliver publishes back as CHANNEL/ to matching subscriptions
        self.subs = []
        self.ignore = ()        # packet kinds (0x80 SUBSCRIBE, ...) left unanswered
        self.connects = 0
        self.sockets = []

    def feed(self, data):
        self.inbox += data

    def kinds(self):
        return [p.kind for p in self.sent]

    def of(self, kind):
        return [p for p in self.sent if p.kind == kind]

    def _got(self, data):
        self.out += data
        while len(self.out) >= 2:
            n = 0
            sh = 0
            i = 1
            while True:
                if i >= len(self.out):
                    return
                b = self.out[i]
                n |= (b & 0x7F) << sh
                sh += 7
                i += 1
                if not b & 0x80:
                    break
            if len(self.out) < i + n:
                return
            p = Packet(self.out[0], bytes(self.out[i:i + n]))
            self.out = self.out[i + n:]
            self.sent.append(p)
            if self.auto and not self.mute:
                self._answer(p)

    def _answer(self, p):
        k = p.kind
        if k in self.ignore:
            return
        if k == 0x10:
            self.connects += 1
            self.feed(b"\x20\x02\x00\x00")
        elif k == 0x80:
            t = p.topic()
            self.subs.append(t)
            self.feed(packet(0x90, struct.pack("!HB", p.pid(), 0)))
        elif k == 0xA0:
            t = p.topic()
            if t in self.subs:
                self.subs.remove(t)
            self.feed(packet(0xB0, struct.pack("!H", p.pid())))
        elif k == 0xC0:
            self.feed(b"\xd0\x00")
        elif k == 0x30:
            t = p.topic()
            if t.startswith(b"emitter/"):
                op = t[8:-1]
                f = self.answers.get(op)
                if f:
                    req = json.loads(p.payload()) if p.payload() else {}
                    ans = f(req, p.pid() if p.first & 6 else None)
                    if ans is not None:
                        self.feed(publish(t, json.dumps(ans)))
            elif self.echo:
                self._deliver(t, p.payload())
            if p.first & 6:
                self.feed(packet(0x40, struct.pack("!H", p.pid())))

    def _deliver(self, t, payload):
        # As the broker does: KEY/CHANNEL/?opts arrives as CHANNEL/ on matching subscriptions.
        key, _, rest = t.partition(b"/")
        ch = rest.partition(b"?")[0]
        for s in self.subs:
            sch = s.partition(b"/")[2].partition(b"?")[0]
            if ch.startswith(sch):
                self.feed(publish(ch, payload))
                return


class FakeSocket:
    def __init__(self, peer):
        self.peer = peer
        self.timeout = None
        self.blocking = True
        self.closed = False

    def settimeout(self, t):
        self.timeout = t
        self.blocking = t != 0

    def setblocking(self, flag):
        self.blocking = flag
        self.timeout = None

    def connect(self, addr):
        self.peer.connected = True

    def write(self, buf, n=None):
        if self.closed or self.peer.closed:
            raise OSError(errno.ECONNRESET)
        if isinstance(buf, str):  # MicroPython sockets take str too
            buf = buf.encode()
        data = bytes(buf if n is None else memoryview(buf)[:n])
        self.peer._got(data)
        return len(data)

    def read(self, n):
        if self.closed:
            raise OSError(errno.EBADF)
        if n > 1 << 20:
            raise MemoryError("read(%d)" % n)  # MicroPython allocates the n bytes before reading
        inbox = self.peer.inbox
        if len(inbox) >= n or (self.peer.closed and not self.peer.mute):
            out = bytes(inbox[:n])
            self.peer.inbox = inbox[n:]
            return out
        if not self.blocking:
            if inbox:
                out = bytes(inbox)
                self.peer.inbox = bytearray()
                return out
            return None
        if self.timeout is None:
            raise Blocked("a read with no timeout would block forever")
        time.sleep_ms(int(self.timeout * 1000))  # as long as a real socket would wait
        raise OSError(errno.ETIMEDOUT)

    def readinto(self, buf, n=None):
        """As MicroPython's: non-blocking, what is there (None: nothing); blocking, all of buf or a timeout."""
        data = self.read(len(buf) if n is None else n)
        if data is None:
            return None
        buf[:len(data)] = data
        return len(data)

    def close(self):
        self.closed = True


def _relay():
    try:
        import os
        a = os.getenv("ROGUE_RELAY")
    except (ImportError, AttributeError):
        return None
    if a:
        host, _, port = a.rpartition(":")
        return host, int(port)


class FakeNet:
    """Stands in for the socket module umqtt.simple imported."""

    def __init__(self, peer):
        self.peer = peer

    def socket(self, *args):
        relay = _relay()
        if relay:  # ROGUE_RELAY=host:port (rogue_relay.py): FakeSocket's semantics, the bytes over real sockets
            import rogue_relay
            s = rogue_relay.RelaySocket(self.peer, relay)
        else:
            s = FakeSocket(self.peer)
        self.peer.sockets.append(s)
        return s

    def getaddrinfo(self, host, port, *args):
        self.peer.addr = (host, port)
        return [(2, 1, 0, "", (host, port))]


def raises(exc, f, *a, **k):
    """Call f and return the exception of type exc it raised (pytest.raises is not on MicroPython)."""
    try:
        f(*a, **k)
    except exc as e:
        return e
    raise AssertionError("%s not raised" % exc.__name__)


def install(peer=None):
    """Point umqtt.simple at a fake network and return the peer."""
    from umqtt import simple
    peer = peer or Peer()
    simple.socket = FakeNet(peer)
    return peer


def client(options=None, peer=None, connect=True):
    import emitter_micro
    peer = install(peer)
    o = {"host": "127.0.0.1", "port": 8080, "secure": False, "timeout": 1}
    o.update(options or {})
    em = emitter_micro.Emitter(o)
    if connect:
        em.connect()
    return em, peer
