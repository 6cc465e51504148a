"""Publishes not yet delivered, kept on the board's filesystem across a reboot (the "store" option).

Imported only when that option is given. The store is a directory: a marker file "v" (magic and format
version) and one small file per record, named by its slot number and always written whole. Why files, not one
log: littlefs (what ESP32 and RP2 boards format their flash with) copies a file's last block into a newly
erased one on the first write after each flush, so a log flushed per record costs a 4 KB erase per record. A
file no larger than littlefs's inline size (128 B with ESP32's progsize 32, 512 B with RP2's 256) lives in its
directory's metadata log instead: writing, emptying or removing one is one commit appended there, and littlefs
erases a block only when that log fills and it compacts it (docs/store.md has the figures).
A record file: flags (qos | retain << 1, 1 B), rid (4 B), topic length (2 B), little-endian; the topic; the
message; CRC-32 of everything before it. The file's length gives the message's.
"""
import binascii
import os
import struct

from micropython import const

_MARK = b"EMS\x01"  # the marker's content: magic, then the format version
_HEAD = const(7)  # flags, rid, topic length
_OVER = const(11)  # header + CRC: what a record costs beyond its topic and message
_SPARE = const(8)  # emptied slots kept for reuse: rewriting a file is one littlefs commit, creating one two
_RIDS = const(0x3FFFFFFF)  # rids stay small ints on 32-bit ports (a billion records before they wrap)


def _exists(p):
    try:
        os.stat(p)
        return True
    except OSError:
        return False


def _parse(d):
    """(rid, topic, message, qos, retain) of a record file's bytes, or None if it is not whole."""
    n = len(d)
    if n < _OVER:
        return None
    f, rid, tl = struct.unpack_from("<BIH", d)
    if f > 3 or _OVER + tl > n or binascii.crc32(memoryview(d)[:n - 4]) != struct.unpack_from("<I", d, n - 4)[0]:
        return None
    return rid, d[_HEAD:_HEAD + tl], d[_HEAD + tl:n - 4], f & 1, f > 1


class Store:
    """Records oldest first, their bytes bounded by room; every problem goes to report(text), none raises.

    Make it, then call load() once; add() before each send of a publish that must survive a reboot,
    done() when it is delivered. A failed write (a full filesystem: OSError 28) stops writing: add()
    then stores nothing and the client keeps its publishes in RAM, until what the store held has been
    delivered (then it tries again) or the next boot.
    """

    def __init__(self, path, room, report):
        self.path = path
        self.room = room
        self.report = report
        self.size = 0  # bytes of the records held (headers included)
        self.dropped = 0  # records dropped to stay within room
        self.off = False  # writing stopped after a failed write
        self._live = []  # (rid, slot, bytes) of the records held, oldest first
        self._free = []  # emptied slot files, for reuse
        self._slots = 0  # the first slot number never used
        self._rid = 1
        self._boot = self._open()

    def load(self):
        """The records kept from before this boot, oldest first: [(rid, topic, message, qos, retain)]."""
        r, self._boot = self._boot, None
        return r or []

    def refill(self, em):
        """What was kept from before this boot into em's queue, oldest first (pending() counts it)."""
        from .resilience import dropped, enqueue  # relative: store.py also runs alone (bench, tests)
        for rid, t, msg, qos, retain in self.load():
            try:
                enqueue(em, t, msg, qos, retain, rid)
            except ValueError:  # too large for this queue_bytes: its record is gone (enqueue), say so
                dropped(em, (t,), "queue")

    def keep(self, em, t, msg, qos, retain):
        """add() for em's publish: its rid (None: RAM only); what the bound dropped leaves em's queue too."""
        rid, gone = self.add(t, msg, qos, retain)
        if gone and em._queue:
            from .resilience import dropped
            for e in em._queue.drop(gone):
                dropped(em, e, "store")
        return rid

    def add(self, topic, msg, qos, retain):
        """Write a record (before it is sent): -> (rid, rids dropped for room, oldest first).

        rid None: not stored (writing is stopped, or the record alone is larger than room)."""
        n = _OVER + len(topic) + len(msg)
        if self.off or n > self.room:
            return None, ()
        live = self._live
        k = freed = 0
        while self.size + n - freed > self.room:
            freed += live[k][2]
            k += 1
        gone = old = ()
        if k:  # dropped whether or not the write below succeeds: the bound holds either way
            old = live[:k]
            del live[:k]
            gone = tuple(e[0] for e in old)
            self.size -= freed
            self.dropped += k
            s = old[0][1]  # the oldest record's slot: dropping it and adding this is one commit
        elif self._free:
            s = self._free.pop()
        else:
            s = self._slots
            self._slots += 1
        rid = self._rid
        self._rid = rid + 1 & _RIDS  # used even if the write fails: its commit may have landed all the same
        h = struct.pack("<BIH", qos | retain << 1, rid, len(topic))
        try:
            with open(self._name(s), "wb") as f:
                f.write(h)
                f.write(topic)
                f.write(msg)
                f.write(struct.pack("<I", binascii.crc32(msg, binascii.crc32(topic, binascii.crc32(h)))))
        except OSError as e:
            # The slot may hold the old record, this one (littlefs's commit landed before a later step
            # failed) or, on FAT, a torn one: reused later, and whatever it holds at boot is checked then.
            self._free.append(s)
            self._fail(e)
            return None, gone
        for e in old[1:]:
            self._clear(e[1])
        live.append((rid, s, n))
        self.size += n
        return rid, gone

    def done(self, rid):
        """rid was delivered (PUBACK, or a queued QoS 0 publish written out): its record goes. Unknown rids: ignored."""
        live = self._live
        for i in range(len(live)):
            e = live[i]
            if e[0] == rid:
                del live[i]
                self.size -= e[2]
                self._clear(e[1])
                if not live:
                    self.off = False  # all it held is delivered: the next add() tries writing again
                return

    def _open(self):
        # The records of an existing store of this version; anything else at path is set aside, never deleted.
        p = self.path
        try:
            names = os.listdir(p)
        except OSError:
            names = None
        if names and self._get("v") != _MARK or names is None and _exists(p):
            self._aside()
            names = None
        try:
            if names is None:
                os.mkdir(p)
            if not names:
                with open(self._name("v"), "wb") as f:
                    f.write(_MARK)
                return []
        except OSError as e:
            self._fail(e)
            return []
        return self._scan(names)

    def _scan(self, names):
        recs = []
        torn = 0
        for name in names:
            if not name.isdigit():
                continue
            s = int(name)
            if s >= self._slots:
                self._slots = s + 1
            d = self._get(s)
            r = d and _parse(d)
            if r:
                recs.append((r[0], s, len(d)) + r[1:])
                continue
            if d != b"":
                torn += 1  # cut short by a power loss mid-write, or damaged: its slot is emptied for reuse
                self._clear(s)
            else:
                self._free.append(s)
        if torn:
            self.report("store %s: %d damaged record(s) skipped" % (self.path, torn))
        recs.sort()
        total = 0
        for r in recs:
            total += r[2]
        k = 0
        while total > self.room:  # room was made smaller since these were written
            total -= recs[k][2]
            self._clear(recs[k][1])
            k += 1
        if k:
            self.dropped += k
            self.report("store %s: %d oldest record(s) dropped to fit %d bytes" % (self.path, k, self.room))
            del recs[:k]
        self.size = total
        self._live = [r[:3] for r in recs]
        if recs:
            self._rid = recs[-1][0] + 1 & _RIDS
        return [(r[0],) + r[3:] for r in recs]

    def _aside(self):
        p = self.path
        q = p + ".bad"
        i = 0
        while _exists(q):
            i += 1
            q = "%s.bad%d" % (p, i)
        try:
            os.rename(p, q)
        except OSError as e:
            self._fail(e)
            return
        self.report("store %s: not a store of this version, or damaged: moved to %s, starting empty" % (p, q))

    def _clear(self, s):
        # Empty the slot (kept for reuse) or, with enough spares, remove it: a commit either way.
        try:
            if len(self._free) < _SPARE:
                open(self._name(s), "wb").close()
                self._free.append(s)
            else:
                os.remove(self._name(s))
        except OSError as e:
            self._fail(e)

    def _fail(self, e):
        if not self.off:
            self.off = True
            self.report("store %s: %r: writing stopped, undelivered publishes kept in RAM only" % (self.path, e))

    def _get(self, name):
        try:
            with open(self._name(name), "rb") as f:
                return f.read()
        except OSError:
            return None

    def _name(self, s):
        return "%s/%s" % (self.path, s)
