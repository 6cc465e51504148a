"""A flash chip for littlefs v2 (vfs.VfsLfs2, what ESP32 and RP2 boards format their flash with) in a file,
or in RAM: the store of a device process in bs_store.py (MicroPython only; CPython has no littlefs).

In a file, the chip outlives the process: a SIGKILL between two of its writes is a power cut there, and the
next process mounts what the last one left. Each write or erase is one write() to the file (the kernel
keeps it when the process is killed). Traced (arm()), it prints `BLK n W|E bytes` before the nth write or
erase from then on; at n == hold only the first `cut` bytes of it are made (a power cut mid-program; 0:
none), then it prints `HOLD n` and stops there for good, for the test to kill the process at that point.
"""
import os
import time

BLOCK = 4096
_ERASED = b"\xff" * BLOCK


def _exists(p):
    try:
        os.stat(p)
        return True
    except OSError:
        return False


class Flash:
    def __init__(self, path, blocks, hold=0, cut=0):
        self.n = blocks
        self.hold, self.cut = hold, cut
        self.count = 0
        self.traced = False
        self.new = path is None or not _exists(path)
        if path is None:
            self.f = None
            self.ram = bytearray(_ERASED * blocks)
            return
        if self.new:
            with open(path, "wb") as f:
                for _ in range(blocks):
                    f.write(_ERASED)
        self.f = open(path, "r+b")

    def arm(self):
        """Count (and print) every write and erase from now on."""
        self.count = 0
        self.traced = True

    def _step(self, f, at, data):
        if self.traced:
            self.count += 1
            print("BLK %d %s %d" % (self.count, f, len(data)))
            if self.count == self.hold:
                if self.cut:
                    self._put(at, memoryview(data)[:self.cut])
                print("HOLD %d" % self.count)
                while True:
                    time.sleep(1)  # the test kills the process here
        self._put(at, data)

    def _put(self, at, data):
        if self.f is None:
            self.ram[at:at + len(data)] = data
        else:
            self.f.seek(at)
            self.f.write(data)

    def readblocks(self, b, buf, off=0):
        at = b * BLOCK + off
        if self.f is None:
            buf[:] = memoryview(self.ram)[at:at + len(buf)]
        else:
            self.f.seek(at)
            self.f.readinto(buf)

    def writeblocks(self, b, buf, off=None):
        if off is None:  # the simple protocol: erase first
            self.ioctl(6, b)
            off = 0
        self._step("W", b * BLOCK + off, buf)

    def ioctl(self, op, arg):
        if op == 4:
            return self.n
        if op == 5:
            return BLOCK
        if op == 6:
            self._step("E", arg * BLOCK, _ERASED)
        return 0


def mount(dev, where="/flash", progsize=32):
    """littlefs v2 on dev at where (formatted on first use), as ESP32 formats it (progsize 32)."""
    import vfs
    if dev.new:
        vfs.VfsLfs2.mkfs(dev, progsize=progsize)
    vfs.mount(vfs.VfsLfs2(dev, progsize=progsize), where)
    return where


def unmount(where="/flash"):
    import vfs
    try:
        vfs.umount(where)
    except OSError:
        pass
