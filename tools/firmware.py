"""`make firmware`: MicroPython's unix port built from source with modules frozen in.

The source comes from $MICROPYTHON_SRC (archive or folder; default the archive in
../shared/upstream/), micropython-lib from $MPY_LIB_SRC, lwIP from $LWIP_SRC and mbedtls from
$MBEDTLS_SRC (same defaults; extracted into the MicroPython tree's empty lib/lwip and lib/mbedtls,
its submodules). Builds are cached in .deps/firmware/ and brought up to date (make is incremental)
on every call, so the frozen code is always the code in the tree; a build whose make switches
changed is rebuilt from clean (make does not see a switch change).

    python tools/firmware.py [NAME ...]     # default: every build; prints NAME PATH lines

Builds (32-bit ones need gcc-multilib, installed with apt-get where missing):
  frozen32, frozen64  emitter_micro + umqtt.simple 1.8 + asyncio frozen (firmware/unix.py), ssl on mbedtls
  umqtt32             umqtt.simple only, as stock firmware (firmware/unix_umqtt_only.py), no ssl
  lwip32              frozen32's modules with the boards' lwIP socket over a TAP device, ssl on mbedtls,
                      a Pico W-like `network` and the `lwiptap` test hooks (firmware/lwip/, unix_lwip.py)
  mqttas32            mqtt_as 0.8.3 + asyncio frozen, frozen32's switches (firmware/unix_mqttas.py): the
                      peer bench/aio_heap.py measures; mqtt_as extracted from the archive in ../shared/upstream/
                      into .deps/src. Built on demand (named, or by the bench), not by default
"""
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import upstream  # noqa: E402

REPO = upstream.REPO
OUT = upstream.DEPS / "firmware"
MP_ARCHIVE = "micropython-1c3c201.tar.gz"
# MicroPython's submodules this source comes without: (folder in the tree, env var, archive, a file it holds).
LWIP = ("lib/lwip", "LWIP_SRC", "lwip-2.2.1.tar.gz", "src/include/lwip/init.h")
MBEDTLS = ("lib/mbedtls", "MBEDTLS_SRC", "mbedtls-3.6.6.tar.gz", "include/mbedtls/ssl.h")
# What needs a submodule we do not have (btree, ffi) and threads are off.
COMMON = ["MICROPY_PY_BTREE=0", "MICROPY_PY_FFI=0", "MICROPY_PY_THREAD=0"]
SSL_ON = ["MICROPY_PY_SSL=1", "MICROPY_SSL_MBEDTLS=1", "MICROPY_SSL_AXTLS=0"]
# name: (frozen manifest in firmware/, 32-bit, make switches, variant folder or None, submodules)
BUILDS = {
    "frozen32": ("unix.py", True, COMMON + SSL_ON, None, [MBEDTLS]),
    "frozen64": ("unix.py", False, COMMON + SSL_ON, None, [MBEDTLS]),
    # Stock firmware's heap baseline: its switches stay as they were so its figures stay comparable.
    "umqtt32": ("unix_umqtt_only.py", True, COMMON + ["MICROPY_PY_SSL=0"], None, []),
    # The variant's mpconfigvariant.mk holds its switches (socket = modlwip, no POSIX socket, ssl on).
    "lwip32": ("unix_lwip.py", True, [], REPO / "firmware" / "lwip", [LWIP, MBEDTLS]),
    # mqtt_as beside emitter_micro.aio in bench/aio_heap.py: measured, never shipped.
    "mqttas32": ("unix_mqttas.py", True, COMMON + SSL_ON, None, [MBEDTLS]),
}
ON_DEMAND = ("mqttas32",)  # not in the default list (make firmware): the bench builds it
MQTT_AS = "micropython-mqtt-7b6a11d"  # .tar.gz in ../shared/upstream/; unix_mqttas.py freezes .deps/src/<this>
# The switches every build had before this file recorded them (make-switches.txt).
LEGACY = ["MICROPY_PY_BTREE=0", "MICROPY_PY_SSL=0", "MICROPY_PY_FFI=0", "MICROPY_PY_THREAD=0"]


def _source():
    src = upstream._source("MICROPYTHON_SRC", MP_ARCHIVE)
    if src is None:
        raise upstream.Unavailable("no MicroPython source: set MICROPYTHON_SRC (archive or folder)")
    return upstream._extract(src, upstream.DEPS / "src") if src.is_file() else src


def _submodule(mp_dir, spec):
    """Fill the tree's empty submodule folder from its archive or folder (once)."""
    rel, var, archive, probe = spec
    dest = mp_dir / rel
    if (dest / probe).is_file():
        return
    src = upstream._source(var, archive)
    if src is None:
        raise upstream.Unavailable("no %s source for %s: set %s (archive or folder)" % (rel, mp_dir, var))
    tmp = Path(tempfile.mkdtemp(prefix=".fill-", dir=str(dest.parent)))
    try:
        if src.is_file():
            with tarfile.open(src) as tar:
                kw = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                tar.extractall(tmp, **kw)
            (top,) = [p for p in tmp.iterdir()]
        else:
            top = tmp / "src"
            shutil.copytree(src, top, symlinks=True)
        if dest.is_dir() and not any(dest.iterdir()):
            dest.rmdir()
        try:
            os.rename(top, dest)
        except OSError:
            if not (dest / probe).is_file():  # not another run that filled it meanwhile
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not (dest / probe).is_file():
        raise upstream.Unavailable("%s from %s holds no %s" % (rel, src, probe))
    upstream.say("%s from %s -> %s" % (rel, src, dest))


def mqtt_as():
    """.deps/src/micropython-mqtt-7b6a11d, holding mqtt_as/ (firmware/unix_mqttas.py freezes it from
    there), extracted once from the archive in ../shared/upstream/."""
    archive = upstream.SHARED_UPSTREAM / (MQTT_AS + ".tar.gz")
    if not archive.is_file():
        raise upstream.Unavailable("no %s: mqtt_as's source (micropython-mqtt %s)" % (archive, MQTT_AS[-7:]))
    folder = upstream._extract(archive, upstream.DEPS / "src")
    if folder.name != MQTT_AS or not (folder / "mqtt_as" / "__init__.py").is_file():
        raise upstream.Unavailable("%s holds no %s/mqtt_as/__init__.py" % (archive, MQTT_AS))
    return folder


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


def _switches(args, variant):
    """What a build was made with: its make arguments (any order) and its variant's make file."""
    return "\n".join(sorted(args) + ([(variant / "mpconfigvariant.mk").read_text()] if variant else [])) + "\n"


def build(name):
    """Path of the `micropython` binary of build name, built or brought up to date."""
    manifest, m32, switches, variant, submodules = BUILDS[name]
    mp_dir = _source()
    lib = upstream.micropython_lib()
    for spec in submodules:
        _submodule(mp_dir, spec)
    if name == "mqttas32":
        mqtt_as()  # extracted where its manifest takes it from
    if m32:
        _multilib()
    jobs = "-j%d" % max(1, os.cpu_count() or 1)
    if not (mp_dir / "mpy-cross" / "build" / "mpy-cross").is_file():
        _run(["make", "-C", "mpy-cross", jobs], mp_dir)  # first: the port's build needs it, and -j races
    build_dir = OUT / name
    args = ["BUILD=%s" % build_dir, "MPY_LIB_DIR=%s" % lib, "FROZEN_MANIFEST=%s" % (REPO / "firmware" / manifest)]
    if variant is not None:
        args.append("VARIANT_DIR=%s" % variant)
    if m32:
        args += ["CFLAGS_EXTRA=-m32", "LDFLAGS_EXTRA=-m32"]
    cmd = ["make", "-C", "ports/unix", jobs] + args + switches
    # make rebuilds on changed files, not on changed switches: a build made with others starts clean.
    stamp = build_dir / "make-switches.txt"
    wanted = _switches(args + switches, variant)
    had = stamp.read_text() if stamp.is_file() else _switches(args + LEGACY, variant)
    if build_dir.is_dir() and had != wanted:
        upstream.say("firmware %s: make switches changed, rebuilding from clean" % name)
        shutil.rmtree(build_dir)
    fresh = not (build_dir / "micropython").is_file()
    _run(cmd, mp_dir)
    stamp.write_text(wanted)
    upstream.say("firmware %s: %s %s" % (name, "built" if fresh else "up to date", build_dir / "micropython"))
    return str(build_dir / "micropython")


def main(argv):
    names = argv[1:] or [n for n in BUILDS if n not in ON_DEMAND]
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
