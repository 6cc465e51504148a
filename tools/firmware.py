"""`make firmware`: MicroPython's unix port built from source with modules frozen in.

The source comes from $MICROPYTHON_SRC (archive or folder; default the archive in
../shared/upstream/), micropython-lib from $MPY_LIB_SRC (same default). Builds are
cached in .deps/firmware/ and brought up to date (make is incremental) on every call,
so the frozen code is always the code in the tree.

    python tools/firmware.py [NAME ...]     # default: every build; prints NAME PATH lines

Builds (32-bit ones need gcc-multilib, installed with apt-get where missing):
  frozen32, frozen64  emitter_micro + umqtt.simple 1.8 frozen (firmware/unix.py)
  umqtt32             umqtt.simple only, as stock firmware (firmware/unix_umqtt_only.py)
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import upstream  # noqa: E402

REPO = upstream.REPO
OUT = upstream.DEPS / "firmware"
MP_ARCHIVE = "micropython-1c3c201.tar.gz"
BUILDS = {
    "frozen32": ("unix.py", True),
    "frozen64": ("unix.py", False),
    "umqtt32": ("unix_umqtt_only.py", True),
}
# What needs a submodule (btree, TLS, ffi) and threads are off: the source comes without submodules.
SWITCHES = ["MICROPY_PY_BTREE=0", "MICROPY_PY_SSL=0", "MICROPY_PY_FFI=0", "MICROPY_PY_THREAD=0"]


def _source():
    src = upstream._source("MICROPYTHON_SRC", MP_ARCHIVE)
    if src is None:
        raise upstream.Unavailable("no MicroPython source: set MICROPYTHON_SRC (archive or folder)")
    return upstream._extract(src, upstream.DEPS / "src") if src.is_file() else src


def _run(cmd, cwd):
    # The source sits in .deps/ inside this repo: without a ceiling, MicroPython's version header
    # would take this repo's `git describe` for its own version.
    env = dict(os.environ, GIT_CEILING_DIRECTORIES=str(Path(cwd).resolve().parent))
    p = subprocess.run(cmd, cwd=str(cwd), env=env, capture_output=True, text=True)
    if p.returncode:
        raise upstream.Unavailable("`%s` failed in %s:\n%s" % (" ".join(cmd), cwd, (p.stdout + p.stderr)[-3000:]))


def _multilib():
    """gcc -m32 needs gcc-multilib: install it where missing (root, Debian)."""
    probe = subprocess.run(["gcc", "-m32", "-x", "c", "-", "-o", os.devnull], input="int main(){return 0;}",
                           capture_output=True, text=True)
    if probe.returncode == 0:
        return
    upstream.say("gcc -m32 cannot link: installing gcc-multilib")
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "gcc-multilib"]):
        _run(cmd, REPO)


def build(name):
    """Path of the `micropython` binary of build name, built or brought up to date."""
    manifest, m32 = BUILDS[name]
    mp_dir = _source()
    lib = upstream.micropython_lib()
    if m32:
        _multilib()
    jobs = "-j%d" % max(1, os.cpu_count() or 1)
    if not (mp_dir / "mpy-cross" / "build" / "mpy-cross").is_file():
        _run(["make", "-C", "mpy-cross", jobs], mp_dir)  # first: the port's build needs it, and -j races
    build_dir = OUT / name
    cmd = ["make", "-C", "ports/unix", jobs, "BUILD=%s" % build_dir,
           "MPY_LIB_DIR=%s" % lib, "FROZEN_MANIFEST=%s" % (REPO / "firmware" / manifest)] + SWITCHES
    if m32:
        cmd += ["CFLAGS_EXTRA=-m32", "LDFLAGS_EXTRA=-m32"]
    fresh = not (build_dir / "micropython").is_file()
    _run(cmd, mp_dir)
    upstream.say("firmware %s: %s %s" % (name, "built" if fresh else "up to date", build_dir / "micropython"))
    return str(build_dir / "micropython")


def main(argv):
    names = argv[1:] or list(BUILDS)
    if any(n not in BUILDS for n in names):
        print(__doc__, file=sys.stderr)
        return 2
    for name in names:
        try:
            print(name, build(name))
        except upstream.Unavailable as e:
            print("firmware: %s failed: %s" % (name, e), file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
