"""`make bench` (second part): footprint of emitter_micro.aio, the asyncio front-end, written to bench/aio_results.json.

From the .mpy build, against the real Emitter broker, under the MicroPython unix port (64-bit, PyPI)
and the 32-bit unix port (.deps/firmware/umqtt32, `make firmware`), where asyncio comes from
MicroPython's extmod/asyncio compiled to .mpy (a board build freezes it); and on the frozen 32-bit
build, where emitter_micro, asyncio and umqtt.simple are all frozen (bytecode in flash). The sync client's figures
are bench/run.py's: aio*.mpy is not in its totals, as a sync-only device never loads it.
"""
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "host_tests" / "support"), str(ROOT / "tools")]

import broker as broker_mod  # noqa: E402
import runtimes  # noqa: E402

RESULTS = ROOT / "bench" / "aio_results.json"


def build(out):
    files, errors = runtimes.build_mpy(out)
    src = sorted((ROOT / ".deps" / "src").glob("micropython-*/extmod/asyncio"))
    jobs = [(ROOT / "bench" / "aio_device.py", out / "aio_device.mpy")]
    if src:
        (out / "asyncio").mkdir(exist_ok=True)
        jobs += [(p, out / "asyncio" / (p.stem + ".mpy")) for p in sorted(src[-1].glob("*.py")) if p.stem != "task"]
    for py, mpy in jobs:
        p = subprocess.run([runtimes.mpy_cross_cmd(), "-o", str(mpy), str(py)], capture_output=True, text=True)
        if p.returncode:
            errors.append(p.stderr)
    if errors:
        raise SystemExit("\n".join(errors))
    return {Path(f).stem: size for f, size in files}


def device(exe, out, host, port, key):
    # cwd = the build, '' first on sys.path under -m: the .mpy files, never the sources.
    p = subprocess.run([exe, "-m", "aio_device", host, str(port), key], cwd=str(out), capture_output=True,
                       text=True, timeout=120, env={"MICROPYPATH": ":".join([".frozen", str(out), str(runtimes.UMQTT134)])})
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return {"failed": (p.stdout + p.stderr)[-600:]}


def main():
    out = Path(tempfile.mkdtemp(prefix="bench-aio-"))
    sizes = build(out)
    try:
        b = broker_mod.Broker(broker_mod.find_or_install(), tempfile.mkdtemp(prefix="bench-aio-broker-")).start()
    except Exception as e:  # never a substitute broker: the reason, and no figures
        print("bench/aio.py: the real Emitter broker is unavailable: %s" % e, file=sys.stderr)
        return 2
    interpreters = {"unix 64-bit (PyPI)": runtimes.micropython_cmd()}
    exe32 = ROOT / ".deps" / "firmware" / "umqtt32" / "micropython"
    not_measured = []
    if exe32.is_file():
        interpreters["unix 32-bit (umqtt32)"] = str(exe32)
    else:
        not_measured.append("32-bit: no %s (make firmware)" % exe32)
    try:
        interpreters["frozen 32-bit"] = runtimes.frozen32_cmd()  # emitter_micro, asyncio, umqtt.simple in flash
    except Exception as e:  # the reason, and no figure
        not_measured.append("frozen 32-bit: %s" % str(e).strip()[-300:])
    try:
        key = b.keygen("bench/#/", "rw")
        # The frozen build runs the script from a folder holding nothing else: its modules must come from flash.
        alone = out / "script_only"
        alone.mkdir(exist_ok=True)
        (alone / "aio_device.mpy").write_bytes((out / "aio_device.mpy").read_bytes())
        heap = {name: device(exe, alone if name.startswith("frozen") else out, b.host, b.port, key)
                for name, exe in interpreters.items()}
    finally:
        b.stop()
    aio = {k: v for k, v in sizes.items() if k.startswith("aio")}
    results = {"mpy_bytes": aio, "mpy_bytes_total": sum(aio.values()), "heap": heap, "not_measured": not_measured}
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    rows = [(".mpy bytes, emitter_micro.aio (%s)" % "+".join(sorted(aio)), results["mpy_bytes_total"])]
    rows += [("  .mpy %s" % k, v) for k, v in sorted(aio.items())]
    for name, h in heap.items():
        if "failed" in h:
            rows.append(("%s: FAILED" % name, h["failed"]))
            continue
        rows += [
            ("%s: heap after import emitter_micro (sync)" % name, h["after_import_sync"]),
            ("%s: heap after from emitter_micro import aio" % name, h["after_import_aio"]),
            ("%s: heap after await aio.connect()" % name, h["after_connect"]),
            ("%s: heap after subscribe + QoS 1 publish" % name, h["after_subscribe_publish"]),
            ("%s: bytes allocated per QoS 0 / QoS 1 publish" % name,
             "%.0f / %.0f" % (h["alloc_per_qos0_publish"], h["alloc_per_qos1_publish"])),
        ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print("%-*s  %s" % (width, k, v))
    for why in not_measured:
        print("not measured: " + why)
    print("\nwritten to %s" % RESULTS.relative_to(ROOT))
    return 0 if all("failed" not in h for h in heap.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
