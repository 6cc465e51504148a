# Benchmarks run under the MicroPython unix port; bench/run.py starts them.
# usage: micropython bench/device.py MODE HOST PORT [N]   -> prints "RESULT <json>"
import gc
import json
import sys
import time

MODE, HOST, PORT = sys.argv[1], sys.argv[2], int(sys.argv[3])
N = int(sys.argv[4]) if len(sys.argv) > 4 else 1000
KEY = "BenchKey-0123456789abcdefghijklm"
PAYLOAD = b"x" * 32
OPTIONS = {"host": HOST, "port": PORT, "secure": False, "timeout": 5}


def emitter(drain=False):
    import emitter_micro
    return emitter_micro.connect(dict(OPTIONS, client_id="bench-%s-emitter" % ("drain" if drain else "acked")))


def raw(drain=False):
    # A "drain" client id asks bench/sink.py to discard without parsing or answering (QoS 0 runs),
    # so the sink is not the bottleneck. The real broker ignores it.
    from umqtt.simple import MQTTClient
    c = MQTTClient(b"bench-%s-raw" % (b"drain" if drain else b"acked"), HOST, PORT)
    c.connect()
    return c


def heap():
    gc.collect()
    a0 = gc.mem_alloc()
    import emitter_micro
    gc.collect()
    a1 = gc.mem_alloc()
    em = emitter_micro.connect(OPTIONS)
    gc.collect()
    a2 = gc.mem_alloc()
    em.publish(KEY, "bench/", PAYLOAD)
    em.loop(0)
    gc.collect()
    a3 = gc.mem_alloc()
    mods = sorted(m for m in sys.modules if m.startswith("emitter_micro"))
    files = [getattr(sys.modules[m], "__file__", "") for m in mods]
    return {"after_import": a1 - a0, "after_connect": a2 - a0, "after_first_publish": a3 - a0,
            "modules_publish_only": mods, "files": files}


def alloc():
    """Heap bytes allocated per QoS 0 publish in steady state (gc off while counting)."""
    out = {}
    em, c = emitter(True), raw(True)
    topic = (KEY + "/bench/").encode()
    sends = {"emitter_micro": lambda: em.publish(KEY, "bench/", PAYLOAD),
             "umqtt.simple": lambda: c.publish(topic, PAYLOAD)}
    for name in ("umqtt.simple", "emitter_micro"):
        f = sends[name]
        for _ in range(100):
            f()
        gc.collect()
        gc.disable()
        a0 = gc.mem_alloc()
        for _ in range(N):
            f()
        a1 = gc.mem_alloc()
        gc.enable()
        out[name] = (a1 - a0) / N
        em.loop(0)
    return out


def rx_alloc():
    """Heap bytes allocated per received message (all N are waiting in the socket when counting starts)."""
    out = {}
    em = emitter()
    got = [0]

    def on_message(m):
        got[0] += 1
    em.subscribe(KEY, "bench/rx/", handler=on_message)
    c = raw()
    rgot = [0]

    def on_raw(topic, msg):
        rgot[0] += 1
    c.set_callback(on_raw)
    c.subscribe((KEY + "/bench/rxraw/").encode())
    for name, count, send, receive in (
            ("emitter_micro", got, lambda: em.publish(KEY, "bench/rx/", PAYLOAD), lambda: em.loop(100)),
            ("umqtt.simple", rgot, lambda: c.publish((KEY + "/bench/rxraw/").encode(), PAYLOAD), c.check_msg)):
        for _ in range(N):
            send()
        time.sleep_ms(200)
        gc.collect()
        gc.disable()
        a0 = gc.mem_alloc()
        end = time.ticks_add(time.ticks_ms(), 5000)
        while count[0] < N and time.ticks_diff(end, time.ticks_ms()) > 0:
            receive()
        out[name] = (gc.mem_alloc() - a0) / max(1, count[0])
        gc.enable()
        out[name + "_received"] = count[0]
    return out


def _rate(f, n):
    t0 = time.ticks_us()
    for _ in range(n):
        f()
    return n * 1000000 / max(1, time.ticks_diff(time.ticks_us(), t0))


def throughput():
    """Publishes per second, 32-byte payload; rounds alternate the two clients over one peer.

    Each round is small enough to fit the loopback socket buffers and is followed by a
    pause, so the figure measures the client, not how fast the peer drains.
    """
    qos = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    em, c = emitter(not qos), raw(not qos)
    topic = (KEY + "/bench/").encode()
    runs = {"emitter_micro": [], "umqtt.simple": []}
    for _ in range(5):
        runs["umqtt.simple"].append(_rate(lambda: c.publish(topic, PAYLOAD, False, qos), N))
        time.sleep_ms(300)
        runs["emitter_micro"].append(_rate(lambda: em.publish(KEY, "bench/", PAYLOAD, qos=qos), N))
        time.sleep_ms(300)
        em.loop(0)
    med = {k: sorted(v)[2] for k, v in runs.items()}
    return {"qos": qos, "n": N, "runs": runs, "median": med,
            "ratio": med["emitter_micro"] / med["umqtt.simple"]}


def telemetry():
    """The telemetry loop: N JSON readings published at QoS 0 to a channel it subscribes to; all must come back."""
    import emitter_micro
    em = emitter_micro.connect(OPTIONS)
    got = [0]

    def on_reading(m):
        got[0] += 1
    em.subscribe(KEY, "bench/telemetry/", handler=on_reading)
    for seq in range(1, N + 1):
        em.publish(KEY, "bench/telemetry/", {"seq": seq, "uptime_ms": time.ticks_ms(), "temp_c": 21.5})
        em.loop(0)
    end = time.ticks_add(time.ticks_ms(), 5000)
    while got[0] < N and time.ticks_diff(end, time.ticks_ms()) > 0:
        em.loop(20)
    return {"published": N, "received": got[0], "ok": got[0] == N}


def latency():
    """Round trip publish -> own subscription, in microseconds."""
    import emitter_micro
    em = emitter_micro.connect(OPTIONS)
    seen = []
    em.subscribe(KEY, "bench/rtt/", handler=seen.append)
    times = []
    for i in range(N):
        del seen[:]
        t0 = time.ticks_us()
        em.publish(KEY, "bench/rtt/", PAYLOAD)
        while not seen:
            em.loop(1000)
        times.append(time.ticks_diff(time.ticks_us(), t0))
    times.sort()
    return {"n": N, "p50_us": times[N // 2], "p99_us": times[N * 99 // 100]}


print("RESULT " + json.dumps({"heap": heap, "alloc": alloc, "rx_alloc": rx_alloc, "throughput": throughput,
                              "telemetry": telemetry, "latency": latency}[MODE]()))
