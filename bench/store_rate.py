"""`make bench`: the QoS 1 publish rate with the store (the "store" option, issue 18) against without it.

Each figure: QoS 1 publishes of 64 B one after the other (each waits for its PUBACK), the median of
3 rounds of 300, under the MicroPython unix port (emitter_micro and umqtt.simple 1.8 from .mpy) and
frozen32 (both frozen), by the sync and the asyncio client (bench/store_device.py), against the real
Emitter broker with limit.flushRate 1000 as bench/run.py takes its figures (its start_broker()), every
round after a pause that lets the broker's write allowance fill again. The store on littlefs v2 on a
RAM block device (the filesystem's CPU cost: a real flash's program and erase times come on top, its
counts are in bench/store_wear.py's table), and on the host's filesystem. With the store a QoS 1
publish is written (one file) before it is sent and emptied on its PUBACK: two filesystem commits each.

Prints a table; exits non-zero when a figure cannot be had (no broker: the reason).
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "host_tests" / "support"), str(ROOT / "tools")]

import runtimes  # noqa: E402
from run import FLUSH_RATE, Refused, start_broker  # noqa: E402  (bench/run.py: the broker as the bench has it)

N, ROUNDS, PAUSE_MS = 300, 3, 1100
RUNTIMES = [("unix", "unix port, .mpy"), (runtimes.FROZEN32, "frozen32, frozen")]
CLIENTS = ["sync", "aio"]
STORES = [("none", "no store"), ("lfs", "store on littlefs (RAM)"), ("fs", "store on the host's filesystem")]


def device(runtime, build, broker, key, client, store, work):
    if runtime == "unix":
        exe = runtimes.micropython_cmd()
        path = [".frozen", str(build), str(runtimes.umqtt_versions()["18"])]
    else:
        exe, path, _ = runtimes.launch(runtime)
    path = path + [str(ROOT / "host_tests" / "store")]
    d = tempfile.mkdtemp(prefix="store-rate-", dir=work)
    cmd = [exe, str(ROOT / "bench" / "store_device.py"), broker.host, str(broker.port), key, client, store,
           str(N), str(ROUNDS), str(PAUSE_MS), d]
    p = subprocess.run(cmd, env=dict(os.environ, MICROPYPATH=":".join(path)), cwd=d, capture_output=True,
                       text=True, timeout=300)
    lines = [x for x in p.stdout.splitlines() if x.startswith("RESULT ")]
    if p.returncode or not lines:
        return None, "exit %s: %s" % (p.returncode, (p.stdout + p.stderr)[-600:])
    r = json.loads(lines[-1][7:])
    if r["errors"] or r["left"]:
        return None, "errors %s, %d store bytes left" % (r["errors"], r["left"])
    if r["store"] != (store != "none"):
        return None, "emitter_micro.store %s" % ("loaded without the option" if r["store"] else "not loaded")
    if runtime == runtimes.FROZEN32 and not r["frozen"]:
        return None, "emitter_micro not from the firmware: %s" % r["files"]
    if runtime == "unix" and not all(f.endswith(".mpy") for f in r["files"]):
        return None, "not from .mpy: %s" % r["files"]
    return statistics.median(r["rates"]), None


def main():
    try:
        broker, _ = start_broker()
    except Refused as e:
        print("store_rate: no figures: %s" % e, file=sys.stderr)
        return 2
    failed = []
    rows = []
    try:
        key = broker.keygen("bench/#/", "rwslp")
        with tempfile.TemporaryDirectory(prefix="store-rate-") as work:
            build = Path(work) / "mpy"
            _, errors = runtimes.build_mpy(build)
            if errors:
                print("store_rate: %s" % "\n".join(errors), file=sys.stderr)
                return 1
            for runtime, label in RUNTIMES:
                for client in CLIENTS:
                    figs = {}
                    for store, _ in STORES:
                        figs[store], why = device(runtime, build, broker, key, client, store, work)
                        if why:
                            failed.append("%s %s %s: %s" % (label, client, store, why))
                    rows.append((label, client, figs))
    finally:
        broker.stop()
    print("QoS 1 publish rate with the store against without it [real Emitter broker, limit.flushRate %d]:" % FLUSH_RATE)
    print("publishes of 64 B one after the other, each waiting for its PUBACK; median of %d rounds of %d" % (ROUNDS, N))
    head = ["runtime", "client"] + [s[1] for s in STORES] + ["littlefs vs none"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for label, client, figs in rows:
        cells = ["%.0f/s" % figs[s] if figs[s] else "FAILED" for s, _ in STORES]
        ratio = "%.2fx" % (figs["lfs"] / figs["none"]) if figs["lfs"] and figs["none"] else "-"
        print("| %s | %s | %s | %s |" % (label, client, " | ".join(cells), ratio))
    for f in failed:
        print("FAILED " + f)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
