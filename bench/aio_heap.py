"""`make bench`: the asyncio client's heap beside mqtt_as 0.8.3's, measured in the same run (issue 17).

The same loop for each (bench/aio_heap_loop_em.py, bench/aio_heap_loop_mqttas.py): connect, 1,000
publishes of a 40-byte reading at QoS 0, then one at QoS 1 awaited, to the real Emitter broker. The
figure is the smallest -X heapsize it completes in (bench/run.py's smallest_heapsize: bisected in 64 B
steps, then every step up to 512 B above checked), on 32-bit unix builds from MicroPython's source:

  frozen  emitter_micro.aio frozen in frozen32; mqtt_as frozen in mqttas32 (frozen32's switches,
          firmware/unix_mqttas.py); asyncio frozen in both
  .mpy    umqtt32 (stock firmware: umqtt.simple and asyncio frozen), the library's .mpy files beside
          the loop: emitter_micro/*.mpy, or mqtt_as/__init__.mpy + the stand-ins' .mpy

Each run is from a folder that holds only the loop's .mpy (and the measured .mpy files); a run counts
only when every module came from where its row says (FILE lines). mqtt_as is measured, never shipped: its
source comes from ../shared/upstream/micropython-mqtt-7b6a11d.tar.gz (tools/firmware.py extracts it).
Writes bench/aio_heap_results.json; exits non-zero when a figure cannot be had.
"""
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "host_tests" / "support"), str(ROOT / "tools")]

import runtimes  # noqa: E402
from run import Refused, _bytes, smallest_heapsize, start_broker  # noqa: E402

EM, MQTTAS = "emitter_micro.aio", "mqtt_as 0.8.3"
ISSUE = {("frozen", MQTTAS): 10432, ("mpy", MQTTAS): 25728, ("frozen", EM): 20352, ("mpy", EM): 56448}


class LoopRun:
    """One loop from one folder on one build at a given -X heapsize: (passed, why not)."""

    def __init__(self, binary, folder, script, broker, key, want_mpy, names):
        self.binary, self.folder, self.script, self.broker, self.key = binary, folder, script, broker, key
        self.want_mpy, self.names = want_mpy, names
        self.runs = 0

    def __call__(self, heapsize):
        self.runs += 1
        cmd = [self.binary, "-X", "heapsize=%d" % heapsize, "-m", self.script, self.broker.host,
               str(self.broker.port), self.key, "bench/aioheap/"]
        try:
            p = subprocess.run(cmd, cwd=str(self.folder), env=dict(os.environ, MICROPYPATH=".frozen:."),
                               capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired:
            return False, "killed after 60 s"
        if not self.broker.running:
            raise Refused("the broker exited; log:\n%s" % self.broker.log()[-2000:])
        result = [x for x in p.stdout.splitlines() if x.startswith("RESULT ")]
        if p.returncode or not result:
            return False, (p.stdout + p.stderr).strip()[-300:] or "exit %s" % p.returncode
        if result[-1].split()[1] != "1":
            return False, result[-1]
        files = dict(x.split()[1:3] for x in p.stdout.splitlines() if x.startswith("FILE "))
        for name, f in files.items():
            measured = any(name.startswith(n) for n in self.names)
            mpy = f.endswith(".mpy")
            if f.startswith("/") or (mpy != (measured and self.want_mpy)):
                return False, "%s came from %s" % (name, f)
        missing = [m for m in self.names if not any(n == m or n.startswith(m + ".") for n in files)]
        if missing:
            return False, "no FILE line for %s" % ", ".join(missing)
        return True, None


def _compile(src, dest, root):
    """src to dest (.mpy) with dest's path under root as the source name (-s, as tools/deploy.py does):
    that name is a qstr in the heap once loaded, so an absolute path would cost each row its length."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    name = str(dest.relative_to(root).with_suffix(".py").relative_to(dest.relative_to(root).parts[0]))
    p = subprocess.run([runtimes.mpy_cross_cmd(), "-o", str(dest), "-s", name, str(src)],
                       capture_output=True, text=True)
    if p.returncode:
        raise Refused("mpy-cross %s: %s" % (src, p.stderr))


def folders(root, mqtt_as_src):
    """em, em_mpy, mqttas, mqttas_mpy: each the loop's .mpy and, for *_mpy, the measured library's."""
    for name, loop in (("em", "aio_heap_loop_em"), ("em_mpy", "aio_heap_loop_em"),
                       ("mqttas", "aio_heap_loop_mqttas"), ("mqttas_mpy", "aio_heap_loop_mqttas")):
        _compile(ROOT / "bench" / (loop + ".py"), root / name / (loop + ".mpy"), root)
    for f in (ROOT / "emitter_micro").glob("*.py"):
        _compile(f, root / "em_mpy" / "emitter_micro" / (f.stem + ".mpy"), root)
    _compile(mqtt_as_src / "mqtt_as" / "__init__.py", root / "mqttas_mpy" / "mqtt_as" / "__init__.mpy", root)
    _compile(ROOT / "bench" / "mqttas_standins.py", root / "mqttas_mpy" / "mqttas_standins.mpy", root)


def sync_reference():
    """The sync client's figures from bench/run.py's heap table (bench/results.json, publish-only loop),
    cited, not measured here: a different loop (every 100th publish QoS 1, loop(0) after each)."""
    try:
        r = json.loads((ROOT / "bench" / "results.json").read_text())
        rows = r["heap_table"]["loops"]["pub"]
        return {"date": r["date"], "frozen": rows["frozen"]["emitter_micro"]["value"],
                "mpy": rows["mpy"]["emitter_micro"]["value"]}
    except (OSError, ValueError, KeyError, TypeError) as e:
        return {"why": "bench/results.json has no heap table: %r" % e}


def main():
    import firmware
    try:
        builds = {n: runtimes.firmware_cmd(n) for n in ("frozen32", "umqtt32", "mqttas32")}
        mqtt_as_src = firmware.mqtt_as()
    except Exception as e:
        print("aio_heap: the 32-bit builds could not be had: %s" % str(e).strip()[-600:])
        return 2
    broker, _ = start_broker()
    root = Path(tempfile.mkdtemp(prefix="bench-aioheap-"))
    out = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "builds": builds, "issue_figures": {"%s %s" % k: v for k, v in ISSUE.items()},
           "sync_reference": sync_reference(), "rows": {}}
    try:
        key = broker.keygen("bench/#/", "rwslp")
        folders(root, mqtt_as_src)
        cases = [("frozen", EM, builds["frozen32"], "em", "aio_heap_loop_em", ("emitter_micro",)),
                 ("frozen", MQTTAS, builds["mqttas32"], "mqttas", "aio_heap_loop_mqttas", ("mqtt_as", "mqttas_standins")),
                 ("mpy", EM, builds["umqtt32"], "em_mpy", "aio_heap_loop_em", ("emitter_micro",)),
                 ("mpy", MQTTAS, builds["umqtt32"], "mqttas_mpy", "aio_heap_loop_mqttas", ("mqtt_as", "mqttas_standins"))]
        for row, who, exe, folder, script, names in cases:
            r = smallest_heapsize(LoopRun(exe, root / folder, script, broker, key, row == "mpy", names))
            out["rows"].setdefault(row, {})[who] = r
            print("aio_heap: %s %s: %s" % (row, who, r.get("value") or r.get("why")), flush=True)
    except Refused as e:
        print("aio_heap: %s" % e)
        return 2
    finally:
        broker.stop()
        shutil.rmtree(str(root), ignore_errors=True)
    (ROOT / "bench" / "aio_heap_results.json").write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    print("\nasyncio client heap beside mqtt_as (smallest -X heapsize for: connect, 1,000 QoS 0 publishes of"
          " 40 B, one QoS 1; 32-bit):")
    print("| row | emitter_micro.aio | mqtt_as 0.8.3 | ratio em/mqtt_as | issue 17: aio before / mqtt_as |")
    print("|---|---:|---:|---:|---|")
    failed = False
    for row, label in (("frozen", "both frozen"), ("mpy", "from .mpy on umqtt32")):
        em, peer = out["rows"][row][EM].get("value"), out["rows"][row][MQTTAS].get("value")
        failed |= not (em and peer)
        ratio = "%.2f" % (em / peer) if em and peer else "-"
        print("| %s | %s | %s | %s | %s / %s |" % (label, _bytes(em), _bytes(peer), ratio,
                                                   _bytes(ISSUE[(row, EM)]), _bytes(ISSUE[(row, MQTTAS)])))
    sync = out["sync_reference"]
    if "why" in sync:
        print("sync client (bench/run.py's heap table): %s" % sync["why"])
    else:
        print("sync client, for reference (bench/run.py's publish-only telemetry loop, bench/results.json of %s;"
              " not measured here): %s frozen, %s from .mpy"
              % (sync["date"], _bytes(sync["frozen"]), _bytes(sync["mpy"])))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
