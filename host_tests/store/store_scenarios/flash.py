"""A flash chip for littlefs in RAM (MicroPython runs of the store tests and bench/store_wear.py).

Flash: 4,096-byte blocks behind the block-device protocol vfs.VfsLfs2 mounts (readblocks,
writeblocks, ioctl), counting block erases (ioctl 6) and bytes programmed (writeblocks). A power
cut: after `budget` more bytes programmed or erased, the write in progress is done only in part and
every later read, write or erase fails (-EIO, as a driver returns it), as a chip whose supply went away
mid-operation; reboot() gives the next boot's chip, on the same bytes.
"""
import errno

BLOCK = 4096


class Flash:
    def __init__(self, blocks, block=BLOCK, data=None):
        self.bs = block
        self.n = blocks
        if data is None:
            data = bytearray(blocks * block)
            ff = b"\xff" * block
            for b in range(blocks):
                data[b * block:(b + 1) * block] = ff  # erased, as a new chip (one 4 KB copy, not two heaps)
        self.data = data
        self.erases = self.programmed = 0
        self.budget = None  # bytes programmed/erased before the power goes; None: never
        self.dead = False

    def cut_after(self, budget):
        """The power goes after budget more bytes programmed or erased."""
        self.budget = budget

    def reboot(self):
        """The next boot: a chip on the same bytes, counts carried over. This one stays as it is (dead
        after a cut), so that what the last boot left open, closed later by a finaliser, writes nothing."""
        g = Flash(self.n, self.bs, self.data)
        g.erases, g.programmed = self.erases, self.programmed
        return g

    def _spend(self, n):
        # How many of n bytes get done before the cut (0 once the power is gone).
        if self.dead:
            return 0
        if self.budget is None:
            return n
        if n < self.budget:
            self.budget -= n
            return n
        done = self.budget
        self.budget = 0
        self.dead = True
        return done

    def readblocks(self, b, buf, off=0):
        if self.dead:  # the process the power left: nothing of it runs on (its files' finalisers)
            return -errno.EIO
        a = b * self.bs + off
        buf[:] = self.data[a:a + len(buf)]

    def writeblocks(self, b, buf, off=None):
        if self.dead:
            return -errno.EIO
        if off is None:  # the simple protocol: erase first
            self.ioctl(6, b)
            off = 0
        n = self._spend(len(buf))
        a = b * self.bs + off
        self.data[a:a + n] = memoryview(buf)[:n]  # a cut leaves what came before it
        self.programmed += n
        if n < len(buf):
            return -errno.EIO
        return 0

    def ioctl(self, op, arg):
        if op == 4:
            return self.n
        if op == 5:
            return self.bs
        if op == 6:
            if self.dead:
                return -errno.EIO
            n = self._spend(self.bs)
            a = arg * self.bs
            self.data[a:a + n] = b"\xff" * n
            self.erases += 1
            if n < self.bs:
                return -errno.EIO
            return 0
        return 0


def mount(flash, where, progsize=32, mkfs=True):
    """littlefs v2 on flash at where (as ESP32 formats it: progsize 32; RP2 uses 256)."""
    import vfs
    if mkfs:
        vfs.VfsLfs2.mkfs(flash, progsize=progsize)
    fs = vfs.VfsLfs2(flash, progsize=progsize)
    vfs.mount(fs, where)
    return fs


def unmount(where):
    import vfs
    try:
        vfs.umount(where)
    except OSError:
        pass
