# The measurements that run under the MicroPython unix port; bench/run.py starts them against the
# real Emitter broker (the only peer it uses) and prints the table.
# usage: micropython -m device MODE HOST PORT KEY [ARGS...]   -> prints "RESULT <json>"
# Modes: heap; publish QOS N ROUNDS N_ALLOC PAUSE_MS; receive WHO N ROUNDS N_ALLOC;
# rtt N ROUNDS PAUSE_MS. PAUSE_MS before each timed run lets the broker's per-connection write
# allowance (limit.flushRate) fill up again: past it, the broker holds writes for up to 1 s.
# "receive" talks to run.py: it prints "READY <channel> <count>" and reads a line (run.py has
# published <count> messages into the socket meanwhile) before it drains them.
import gc
import json
import socket
import struct
import sys
import time

MODE, HOST, PORT, KEY = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
ARGS = sys.argv[5:]
PAYLOAD = b"x" * 32
LIMIT_MS = 1500  # a timed run stops early past this (umqtt.simple waiting on Nagle's algorithm)
OPTIONS = {"host": HOST, "port": PORT, "secure": False, "timeout": 5}
EM, RAW, RAWND, FLOOR = "emitter_micro", "umqtt.simple", "umqtt.simple+nodelay", "floor"


def emitter(name, errors):
    import emitter_micro
    em = emitter_micro.connect(dict(OPTIONS, client_id="bench-em-" + name))
    em.on("error", errors.append)  # the broker's answers on emitter/error/ (401 for a refused key, ...)
    return em


def raw(name, errors, count=None, nodelay=False):
    from umqtt.simple import MQTTClient

    def on_message(topic, msg):
        if topic[0] == 101:  # 'e': emitter/error/ (every bench channel starts with 'b')
            errors.append(msg)
        elif count:
            count[0] += 1
    c = MQTTClient(("bench-raw-" + name).encode(), HOST, PORT)
    c.set_callback(on_message)
    c.connect()
    if nodelay:
        # umqtt.simple writes a packet in up to four writes: with Nagle's algorithm on (the
        # default), the later ones wait for the peer's delayed ACK when a reply is awaited.
        # The port's numbers (modlwip's TCP_NODELAY is lwIP's flag, 0x40); the unix port names neither.
        c.sock.setsockopt(getattr(socket, "IPPROTO_TCP", 6), getattr(socket, "TCP_NODELAY", 1), 1)
    return c


def _len(n):
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _str(b):
    return struct.pack("!H", len(b)) + b


def packet(first, body):
    return bytes((first,)) + _len(len(body)) + body


class Floor:
    """The floor: a plain socket that writes prebuilt MQTT packets (no client library at all)."""

    def __init__(self, name):
        self.s = socket.socket()
        self.s.connect(socket.getaddrinfo(HOST, PORT)[0][-1])
        self.s.write(packet(0x10, _str(b"MQTT") + b"\x04\x02\x00\x3c" + _str(("bench-floor-" + name).encode())))
        ack = self.read(4)
        if ack != b"\x20\x02\x00\x00":
            raise OSError("CONNACK %r" % ack)
        self.buf = bytearray(4)

    def read(self, n):
        buf = bytearray(n)
        got = 0
        while got < n:
            k = self.s.readinto(memoryview(buf)[got:])
            if not k:
                raise OSError("broker closed the floor's socket")
            got += k
        return bytes(buf)

    def publisher(self, topic, qos):
        """A function that sends one prebuilt PUBLISH (QoS 1: and reads its PUBACK)."""
        w = self.s.write
        if not qos:
            pkt = packet(0x30, _str(topic) + PAYLOAD)
            return lambda: w(pkt)
        pkt = packet(0x32, _str(topic) + b"\x00\x01" + PAYLOAD)
        b, readinto = self.buf, self.s.readinto

        def send():
            w(pkt)
            if readinto(b) != 4 or b[0] != 0x40:
                raise OSError("expected a PUBACK, got %r" % b)
        return send

    def subscribe(self, topic):
        self.s.write(packet(0x82, b"\x00\x01" + _str(topic) + b"\x00"))
        ack = self.read(5)
        if ack != b"\x90\x03\x00\x01\x00":
            raise OSError("SUBACK %r" % ack)

    def leftover(self, ms=200):
        """Whatever the broker sent unasked (an error, for a publisher), waiting up to ms."""
        self.s.settimeout(ms / 1000)
        try:
            return self.s.read(256)
        except OSError:
            return None
        finally:
            self.s.settimeout(None)


def _rate(f, n):
    """[sends per second, sends]: n sends, or fewer if LIMIT_MS runs out first."""
    gc.collect()  # each timed run starts on a clean heap: no collection of another sender's garbage
    end = time.ticks_add(time.ticks_ms(), LIMIT_MS)
    t0 = time.ticks_us()
    for i in range(n):
        f()
        if not i & 7 and time.ticks_diff(end, time.ticks_ms()) < 0:
            n = i + 1
            break
    return [n * 1000000 / max(1, time.ticks_diff(time.ticks_us(), t0)), n]


def _alloc(f, n):
    gc.collect()
    gc.disable()
    a0 = gc.mem_alloc()
    for _ in range(n):
        f()
    a1 = gc.mem_alloc()
    gc.enable()
    return (a1 - a0) / n


def heap():
    errors = []
    gc.collect()
    a0 = gc.mem_alloc()
    import emitter_micro
    gc.collect()
    a1 = gc.mem_alloc()
    em = emitter_micro.connect(OPTIONS)
    em.on("error", errors.append)
    gc.collect()
    a2 = gc.mem_alloc()
    em.publish(KEY, "bench/heap/", PAYLOAD)
    em.publish(KEY, "bench/heap/", PAYLOAD, qos=1)  # acked; a refused key shows in errors
    em.loop(100)
    gc.collect()
    a3 = gc.mem_alloc()
    mods = sorted(m for m in sys.modules if m.startswith("emitter_micro"))
    # requests is loaded only by an answer from the broker (an error here): not a publish-only module.
    return {"after_import": a1 - a0, "after_connect": a2 - a0, "after_first_publish": a3 - a0,
            "modules_publish_only": mods, "errors": errors}


def publish():
    """Publishes per second (32-byte payload) for the four senders, rounds interleaved; then
    bytes allocated per publish (gc off while counting). Nothing subscribes to the channel."""
    qos, n, rounds, n_alloc, pause = [int(a) for a in ARGS]
    errors = {EM: [], RAW: [], RAWND: []}
    em, c, fl = emitter("pub", errors[EM]), raw("pub", errors[RAW]), Floor("pub")
    c2 = raw("pubnd", errors[RAWND], nodelay=True)
    topic = (KEY + "/bench/pub/").encode()
    send = {EM: lambda: em.publish(KEY, "bench/pub/", PAYLOAD, qos=qos),
            RAW: lambda: c.publish(topic, PAYLOAD, False, qos),
            RAWND: lambda: c2.publish(topic, PAYLOAD, False, qos),
            FLOOR: fl.publisher(topic, qos)}
    names = [EM, RAW, RAWND, FLOOR]
    for name in names:  # warm up: the topic cache, the first segments
        for _ in range(5 if qos else 50):
            send[name]()
    runs = {name: [] for name in names}
    for r in range(rounds):
        k = r % len(names)
        for name in names[k:] + names[:k]:  # each sender in another place each round
            time.sleep_ms(pause)  # the broker has read the previous burst
            runs[name].append(_rate(send[name], n))
    alloc = {}
    for name in (EM, RAW):
        if n_alloc:
            time.sleep_ms(pause)
            alloc[name] = _alloc(send[name], n_alloc)
    # The broker answers a refused publish on emitter/error/: read whatever came.
    em.loop(200)
    end = time.ticks_add(time.ticks_ms(), 200)
    while time.ticks_diff(end, time.ticks_ms()) > 0:
        c.check_msg()
        c2.check_msg()
    left = fl.leftover()
    if left:
        errors[FLOOR] = [left]
    return {"qos": qos, "n": n, "runs": runs, "alloc": alloc, "alloc_n": n_alloc, "errors": errors}


def receive():
    """Messages per second drained from the socket, and bytes allocated per message (gc off).

    For each round run.py publishes the messages from another connection while this client does
    not read, then says go: the timed part is reading what already waits in the socket."""
    who = ARGS[0]
    n, rounds, n_alloc = [int(a) for a in ARGS[1:]]
    errors, got = [], [0]
    if who == EM:
        em = emitter("rx", errors)

        def on_message(m):
            got[0] += 1
        em.on("message", on_message)
        channel = "bench/rx/em/"
        em.subscribe(KEY, channel)

        def drain():
            em.loop(100)
    else:
        c = raw("rx", errors, got)
        channel = "bench/rx/raw/"
        c.subscribe((KEY + "/" + channel).encode())
        drain = c.check_msg
    runs, received, alloc = [], [], None
    for r in range(rounds + 1):  # the last round counts allocation
        count = n if r < rounds else n_alloc
        got[0] = 0
        print("READY %s %d" % (channel, count))
        sys.stdin.readline()
        gc.collect()
        if r == rounds:
            gc.disable()
        a0 = gc.mem_alloc()
        t0 = time.ticks_us()
        end = time.ticks_add(time.ticks_ms(), 10000)
        while got[0] < count and time.ticks_diff(end, time.ticks_ms()) > 0:
            drain()
        dt = time.ticks_diff(time.ticks_us(), t0)
        a1 = gc.mem_alloc()
        gc.enable()
        received.append(got[0])
        if r < rounds:
            runs.append(got[0] * 1000000 / max(1, dt))
        else:
            alloc = (a1 - a0) / max(1, got[0])
    return {"who": who, "n": n, "runs": runs, "received": received, "alloc": alloc, "alloc_n": n_alloc,
            "errors": errors}


def rtt():
    """Round trip, publish -> own subscription (QoS 0), microseconds; p50 and p99 per round."""
    n, rounds, pause = [int(a) for a in ARGS]
    errors = {EM: [], RAW: [], RAWND: []}
    seen = [0]
    em = emitter("rtt", errors[EM])

    def on_em(m):
        seen[0] += 1
    em.subscribe(KEY, "bench/rtt/em/", handler=on_em)
    c = raw("rtt", errors[RAW], seen)
    raw_topic = (KEY + "/bench/rtt/raw/").encode()
    c.subscribe(raw_topic)
    c2 = raw("rttnd", errors[RAWND], seen, nodelay=True)
    rawnd_topic = (KEY + "/bench/rtt/rawnd/").encode()
    c2.subscribe(rawnd_topic)
    fl = Floor("rtt")
    fl_topic = (KEY + "/bench/rtt/floor/").encode()
    fl.subscribe(fl_topic)
    fl_send = fl.publisher(fl_topic, 0)
    echo = packet(0x30, _str(b"bench/rtt/floor/") + PAYLOAD)  # what the broker delivers
    fl_buf = bytearray(len(echo))
    fl_into = fl.s.readinto

    def em_trip():
        em.publish(KEY, "bench/rtt/em/", PAYLOAD)
        while not seen[0]:
            em.loop(1000)

    def raw_trip():
        c.publish(raw_topic, PAYLOAD)
        while not seen[0]:
            c.wait_msg()

    def rawnd_trip():
        c2.publish(rawnd_topic, PAYLOAD)
        while not seen[0]:
            c2.wait_msg()

    def floor_trip():
        fl_send()
        k = fl_into(fl_buf)
        while k < len(fl_buf):
            k += fl_into(memoryview(fl_buf)[k:])
        seen[0] = 1

    trips = {EM: em_trip, RAW: raw_trip, RAWND: rawnd_trip, FLOOR: floor_trip}
    names = [EM, RAW, RAWND, FLOOR]
    runs = {name: [] for name in names}
    for r in range(rounds):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            trip = trips[name]
            time.sleep_ms(pause)
            times = []
            end = time.ticks_add(time.ticks_ms(), LIMIT_MS)
            for i in range(n + 5):
                seen[0] = 0
                t0 = time.ticks_us()
                trip()
                times.append(time.ticks_diff(time.ticks_us(), t0))
                if i >= 35 and time.ticks_diff(end, time.ticks_ms()) < 0:
                    break
            times = sorted(times[5:])  # the first 5 warm up
            m = len(times)
            runs[name].append({"p50_us": times[m // 2], "p99_us": times[m * 99 // 100], "n": m})
    if bytes(fl_buf) != echo:
        errors[FLOOR] = [bytes(fl_buf)]
    return {"n": n, "runs": runs, "errors": errors}


def where(name):
    m = sys.modules.get(name)
    return m.__file__ if m else "-"


def lwip_stats():
    """lwIP's own memory on the lwip32 build (outside the MicroPython heap), None elsewhere."""
    try:
        import lwiptap
    except ImportError:
        return None
    st = lwiptap.stats()
    return {"mem_max": st["mem_max"], "mem_err": st["mem_err"], "pools": st["pools"]}


out = {"heap": heap, "publish": publish, "receive": receive, "rtt": rtt}[MODE]()
# Where the modules came from (frozen, .mpy or source) and lwIP's pools: taken after the measurement.
out["files"] = [where("emitter_micro"), where("umqtt.simple")]
out["lwip"] = lwip_stats()
print("RESULT " + json.dumps(out))
