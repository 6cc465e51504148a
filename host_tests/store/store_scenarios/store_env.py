"""Where the store cases run: the module under test, a fresh store path, a reopen, a report catcher.

The module is imported as `store`: emitter_micro/store.py itself (CPython: this folder's conftest.py;
MicroPython: the runner puts emitter_micro/ or a folder holding store.mpy on MICROPYPATH), not
through the emitter_micro package. STORE_FS=lfs (MicroPython): the cases' files are on littlefs v2
on a RAM flash (flash.py) mounted at /lfs; otherwise in $STORE_TMP, on the host's filesystem.
"""
import os

import store

FS = os.getenv("STORE_FS") or "posix"
LFS_ROOT = "/lfs"
_n = [0]
_flash = [None]


def root():
    if FS == "lfs":
        if _flash[0] is None:
            import flash
            _flash[0] = flash.Flash(128)
            flash.mount(_flash[0], LFS_ROOT)
        return LFS_ROOT
    return os.getenv("STORE_TMP") or "/tmp"


def fresh(name="q"):
    """A path where nothing is yet: a store made there starts empty."""
    _n[0] += 1
    return "%s/%s%d" % (root(), name, _n[0])


class Reports:
    """Collects what a store reports."""

    def __init__(self):
        self.got = []

    def __call__(self, text):
        assert isinstance(text, str), text
        self.got.append(text)

    def take(self):
        got, self.got = self.got, []
        return got


def open_store(path, room=1 << 20):
    """(store, its reports, the records it loaded)."""
    r = Reports()
    s = store.Store(path, room, r)
    return s, r, s.load()


def exists(p):
    try:
        os.stat(p)
        return True
    except OSError:
        return False


def files(path):
    """The record files of a store, by slot number."""
    return sorted(int(n) for n in os.listdir(path) if n.isdigit())


def read(p):
    with open(p, "rb") as f:
        return f.read()


def write(p, data):
    with open(p, "wb") as f:
        f.write(data)


def rmtree(p):
    try:
        names = os.listdir(p)
    except OSError:
        os.remove(p)
        return
    for n in names:
        rmtree(p + "/" + n)
    os.rmdir(p)


class Rand:
    """The same numbers on every runtime (an LCG): which byte is flipped, where the power goes."""

    def __init__(self, seed):
        self.x = seed * 2654435761 % 4294967296 or 1

    def below(self, n):
        self.x = (self.x * 1103515245 + 12345) % 2147483648
        return (self.x >> 8) % n
