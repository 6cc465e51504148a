"""Two emitter_micro trees side by side in one run (not part of `make bench`): did a change slow the QoS 0
publish path or the receive path, or add heap for a publish-only device?

    [PAIRS=3] .venv/bin/python bench/compare_trees.py [BEFORE [AFTER]]    # git revisions; default c3d3cf9 HEAD

c3d3cf9 is the commit before issue 16's library changes; HEAD the committed tree (WORKTREE: the files as
they are now). Each tree's emitter_micro/ comes out of git (`git archive`: the working tree is not
touched), compiled with mpy-cross and frozen into a 32-bit unix port of its own (firmware/unix.py's
manifest, built in a temp folder; ssl off, the same switches for both). Against the real broker with
limit.flushRate 1000, as `make bench`, on three runtimes: the PyPI unix port (umqtt.simple 1.8, .mpy),
umqtt32 (only umqtt.simple frozen, emitter_micro's .mpy) and the tree's frozen build:
  - rates (bench/device.py): QoS 0 publish and receive (2,000 x 32 B waiting), the trees' runs
    alternated (before, after, before, ...), after/before the median of the pairs' ratios; raw
    umqtt.simple in the same runs is the control (the same code in both: its ratio is the noise);
  - allocation per publish / per message, gc.mem_alloc after import / connect / first publish, and the
    smallest -X heapsize of the publish-only and the receiving telemetry loop (bench/telemetry.py, as
    bench/run.py's heap table) on umqtt32 and frozen.
Both trees run from folders whose paths have the same length: the conservative GC scans the C stack,
whose layout shifts with argv and the environment (a heap figure moves by up to ~100 B with them).
"""
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import run  # bench/run.py: Device, Publisher, the broker, the heap bisection

PAIRS = int(os.environ.get("PAIRS", 3))  # alternated device runs per tree and runtime (of run.ROUNDS rounds)
RUNTIMES = [("pypi", "PyPI port"), ("umqtt32", "umqtt32"), ("frozen", "frozen")]


def tree(rev, root):
    """rev's emitter_micro/ under root/src: compiled into root/build (with device.mpy, telemetry.mpy),
    frozen into root/fw/micropython. (build, frozen binary, .mpy bytes of the sync client)."""
    import firmware  # tools/firmware.py
    import upstream
    src = root / "src"
    src.mkdir(parents=True)
    if rev == "WORKTREE":
        shutil.copytree(str(run.ROOT / "emitter_micro"), str(src / "emitter_micro"))
    else:
        blob = subprocess.run(["git", "archive", rev, "emitter_micro"], cwd=str(run.ROOT), capture_output=True,
                              check=True).stdout
        tarfile.open(fileobj=io.BytesIO(blob)).extractall(str(src))
    build = root / "build"
    files, errors = run.runtimes.build_mpy(build, src / "emitter_micro")
    for name in ("device", "telemetry"):
        p = subprocess.run([run.runtimes.mpy_cross_cmd(), "-o", str(build / (name + ".mpy")),
                            str(run.ROOT / "bench" / (name + ".py"))], capture_output=True, text=True)
        errors += [p.stderr] if p.returncode else []
    if errors:
        raise run.Refused("mpy-cross failed:\n" + "\n".join(errors))
    # firmware/unix.py's manifest beside this tree: package("emitter_micro", base_path="..") takes it.
    (src / "firmware").mkdir()
    for f in ("unix.py", "emitter_micro.py"):
        shutil.copy(str(run.ROOT / "firmware" / f), str(src / "firmware"))
    firmware._run(["make", "-C", "ports/unix", "-j%d" % max(1, os.cpu_count() or 1), "BUILD=%s" % (root / "fw"),
                   "MPY_LIB_DIR=%s" % upstream.micropython_lib(), "FROZEN_MANIFEST=%s" % (src / "firmware" / "unix.py"),
                   "CFLAGS_EXTRA=-m32", "LDFLAGS_EXTRA=-m32"] + firmware.COMMON + ["MICROPY_PY_SSL=0"],
                  firmware._source())
    return build, str(root / "fw" / "micropython"), sum(size for f, size in files if not Path(f).stem.startswith("aio"))


def folders(build):
    """em_mpy: telemetry.mpy + emitter_micro's .mpy (umqtt32); em: telemetry.mpy alone (frozen);
    device_only: device.mpy alone (frozen)."""
    for name, files in (("em_mpy", ["telemetry.mpy", "emitter_micro"]), ("em", ["telemetry.mpy"]),
                        ("device_only", ["device.mpy"])):
        (build.parent / name).mkdir()
        for f in files:
            (shutil.copytree if f == "emitter_micro" else shutil.copy)(str(build / f), str(build.parent / name / f))


def ratio(after, before):
    return after / before if after is not None and before else None


def main(argv):
    before_rev, after_rev = (argv + ["c3d3cf9", "HEAD"][len(argv):])[:2]
    import firmware
    umqtt32 = firmware.build("umqtt32")
    umqtt18 = run.runtimes.umqtt_versions()["18"]
    work = Path(tempfile.mkdtemp(prefix="bench-trees-"))
    broker, _ = run.start_broker()
    try:
        key = broker.keygen("bench/#/", "rwslp")
        trees = {}
        for name, rev in (("before", before_rev), ("after", after_rev)):
            root = work / ("t0" if name == "before" else "t1")  # the same path length for both
            build, frozen, mpy = tree(rev, root)
            folders(build)
            devs = {"pypi": run.Device(build, umqtt18, broker, key)}
            for runtime, exe, folder in (("umqtt32", umqtt32, build), ("frozen", frozen, root / "device_only")):
                d = devs[runtime] = run.Device(folder, umqtt18, broker, key)
                d.exe, d.path = exe, [".frozen", str(folder)]  # umqtt.simple frozen; emitter_micro .mpy or frozen
            devs["frozen"].runtime = "frozen"  # Device.run checks both modules came from the firmware
            trees[name] = {"rev": rev, "root": root, "frozen": frozen, "mpy_bytes": mpy, "devs": devs,
                           "runs": {rt: {"publish_qos0": [], "receive": []} for rt, _ in RUNTIMES}}
        publisher = run.Publisher(broker.host, broker.port, key)
        try:
            for runtime, _ in RUNTIMES:
                for _ in range(PAIRS):
                    for t in trees.values():
                        dev, runs = t["devs"][runtime], t["runs"][runtime]
                        runs["publish_qos0"].append(dev.run("publish", 0, run.N_QOS0, run.ROUNDS, run.N_ALLOC_PUB,
                                                            200))
                        runs["receive"].append({who: run.device_receive(dev, publisher, who)
                                                for who in (run.EM, run.RAW)})
        finally:
            publisher.close()
        for t in trees.values():
            t["heap"] = {runtime: t["devs"][runtime].run("heap") for runtime, _ in RUNTIMES}
            t["telemetry"] = {}
            for runtime, exe, folder in (("umqtt32", umqtt32, "em_mpy"), ("frozen", t["frozen"], "em")):
                for loop in ("pub", "rx"):
                    heap_run = run.HeapRun(exe, t["root"] / folder, "telemetry", loop, broker, key)
                    t["telemetry"][runtime, loop] = run.smallest_heapsize(heap_run)
    finally:
        broker.stop()
        shutil.rmtree(str(broker.dir), ignore_errors=True)
    try:
        report(trees)
    finally:
        shutil.rmtree(str(work), ignore_errors=True)


def pub_rate(r, who):
    """The median of a publish run's rounds for who; None if it failed or the broker answered an error."""
    if "failed" in r or r["errors"].get(who):
        return None
    return run.median([x[0] for x in r["runs"][who]])


def pub_share(r):
    """emitter_micro / raw umqtt.simple in a publish run: the median of its rounds (the senders take
    turns within each round, so both see the same moment's noise)."""
    if "failed" in r or r["errors"].get(run.EM) or r["errors"].get(run.RAW):
        return None
    return run.median([e[0] / u[0] for e, u in zip(r["runs"][run.EM], r["runs"][run.RAW])])


def rx_share(r):
    e, u = rx_rate(r[run.EM]), rx_rate(r[run.RAW])
    return e / u if e and u else None


def rx_rate(r):
    """The median of a receive run's rounds; None if it failed, saw an error or lost a message."""
    if "failed" in r or r["errors"] or r["received"] != [run.N_RX] * run.ROUNDS + [run.N_ALLOC_RX]:
        return None
    return run.median(r["runs"])


def _num(v):
    return "FAILED" if v is None else "%.0f" % v if v >= 10 or v == 0 else "%.3g" % v


def report(trees):
    b, a = trees["before"], trees["after"]
    rows = []

    def add(what, unit, before, after, r=None):
        rows.append((what, unit, before, after, ratio(after, before) if r is None else r))

    for runtime, label in RUNTIMES:
        for mode, title, rates in (
                ("publish_qos0", "QoS 0 publish", [(run.EM, lambda r: pub_rate(r, run.EM)),
                                                   (run.RAW, lambda r: pub_rate(r, run.RAW)), ("em/umqtt", pub_share)]),
                ("receive", "receive 32 B", [(run.EM, lambda r: rx_rate(r[run.EM])),
                                             (run.RAW, lambda r: rx_rate(r[run.RAW])), ("em/umqtt", rx_share)])):
            for who, rate in rates:
                rb = [rate(r) for r in b["runs"][runtime][mode]]
                ra = [rate(r) for r in a["runs"][runtime][mode]]
                add("%s, %s, %s" % (title, who, label), "msgs/s" if who != "em/umqtt" else "ratio",
                    run.median(rb), run.median(ra), run.median([ratio(x, y) for x, y in zip(ra, rb)]))
        for who in (run.EM, run.RAW):
            first = [t["runs"][runtime]["publish_qos0"][0] for t in (b, a)]
            add("QoS 0 publish, allocated per publish, %s, %s" % (who, label), "bytes",
                *[r.get("alloc", {}).get(who) for r in first])
            first = [t["runs"][runtime]["receive"][0][who] for t in (b, a)]
            add("receive, allocated per message, %s, %s" % (who, label), "bytes", *[r.get("alloc") for r in first])
        for k in ("after_import", "after_connect", "after_first_publish"):
            add("heap %s, %s (gc.mem_alloc)" % (k.replace("_", " "), label), "bytes",
                b["heap"][runtime].get(k), a["heap"][runtime].get(k))
        for loop, title in (("pub", "publish-only"), ("rx", "receiving")):
            if (runtime, loop) in b["telemetry"]:
                add("telemetry loop, %s: smallest -X heapsize, %s" % (title, label), "bytes",
                    b["telemetry"][runtime, loop]["value"], a["telemetry"][runtime, loop]["value"])
    add(".mpy bytes, sync client (aio*.mpy left out)", "bytes", b["mpy_bytes"], a["mpy_bytes"])
    width = max(len("%s (%s)" % (w, u)) for w, u, _, _, _ in rows)
    print("emitter_micro before (%s) and after (%s) in one run, real Emitter broker, limit.flushRate %d.\n"
          "Rates: %d alternated device runs per tree, %d rounds each; after/before: the median of the pairs'\n"
          "ratios. Raw umqtt.simple is the same code in both trees: its ratio is the machine's noise; em/umqtt\n"
          "(emitter_micro / umqtt.simple in the same device runs) takes that noise out."
          % (b["rev"], a["rev"], run.FLUSH_RATE, PAIRS, run.ROUNDS))
    print("  %-*s%12s%12s%14s" % (width, "", "before", "after", "after/before"))
    for what, unit, vb, va, r in rows:
        print("  %-*s%12s%12s%14s" % (width, "%s (%s)" % (what, unit), _num(vb), _num(va),
                                      "-" if r is None else "%.3f" % r))
    for name, t in trees.items():
        for runtime, modes in t["runs"].items():
            for r in modes["publish_qos0"] + [x for rx in modes["receive"] for x in rx.values()] + [t["heap"][runtime]]:
                if "failed" in r:
                    print("  FAILED %s, %s: %s" % (name, runtime, r["failed"][-300:]))
        for (runtime, loop), f in t["telemetry"].items():
            if f.get("why"):
                print("  FAILED %s, %s telemetry %s: %s" % (name, runtime, loop, f["why"]))


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except run.Refused as e:
        print("compare_trees: no figures: %s" % e, file=sys.stderr)
        sys.exit(2)
