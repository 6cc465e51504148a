# Flash wear of emitter_micro.store beside a naive store and a single-file append log, on littlefs v2.
#
# usage (from the repo): micropython -X heapsize=8M bench/store_wear.py [progsize ...]
#   (the unix port, or .deps/firmware/frozen32/micropython; the store is emitter_micro/store.py, or a
#   store.py / store.mpy that MICROPYPATH names first)
#
# Each store runs on a fresh littlefs v2 (vfs.VfsLfs2, as ESP32 and RP2 boards format their flash)
# on a RAM flash of 4,096-byte blocks counting erases and bytes programmed
# (host_tests/store/store_scenarios/flash.py), with 1,000 QoS 1 readings of 64 B to a 47-byte topic:
#   online   each reading added, then done (acked) before the next one: one in flight
#   outage   1,000 added while the broker is away (room for all), then all acked
#   bounded  the same with room 16,384 B (queue_bytes' default): the oldest dropped as it fills
# naive: the whole queue file rewritten per change. log: one file, a record appended and flushed per
# add, a done mark per done, live records rewritten to a new file and renamed over it every 64 dones.
# Prints a table, then one line "STORE_WEAR <json>" (host_tests/store/test_store.py reads it).
import json
import sys

_here = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
sys.path.append(_here + "/../host_tests/store/store_scenarios")
sys.path.append(_here + "/../emitter_micro")

import flash  # noqa: E402
from store import Store  # noqa: E402

READINGS = 1000
TOPIC = b"0123456789abcdef0123456789abcdef/sensors/room1/"  # a 32-char key and a channel: 47 B
MSG = b"t=21.5;h=40.2;p=1013.2;v=3.30;seq=000000;0123456789abcdefghijklmno"[:64]
RAM_ROOM = 16384
MOUNT = "/wear"


class Naive:
    """The queue file rewritten whole on every change."""

    def __init__(self, path, room):
        self.path = path
        self.room = room
        self.q = []
        self.rid = 0

    def _write(self):
        with open(self.path, "wb") as f:
            for r in self.q:
                f.write(r[1])

    def add(self, topic, msg):
        self.rid += 1
        rec = b"%s%s%s" % (len(topic).to_bytes(2, "little"), topic, msg)
        self.q.append((self.rid, rec))
        size = sum(len(r[1]) for r in self.q)
        while size > self.room:
            size -= len(self.q.pop(0)[1])
        self._write()
        return self.rid

    def done(self, rid):
        for i in range(len(self.q)):
            if self.q[i][0] == rid:
                del self.q[i]
                self._write()
                return


class Log:
    """One append-only file: a record per add, an 8-byte done mark per done, each flushed; compaction
    (live records to a new file, renamed over the old) every 64 dones."""

    def __init__(self, path, room):
        self.path = path
        self.room = room
        self.live = []
        self.rid = self.dead = 0
        self.f = open(path, "ab")

    def add(self, topic, msg):
        self.rid += 1
        rec = b"%s%s%s" % ((len(topic) + len(msg)).to_bytes(4, "little"), topic, msg)
        self.live.append((self.rid, rec))
        self.f.write(rec)
        self.f.flush()
        size = sum(len(r[1]) for r in self.live)
        while size > self.room:
            size -= len(self.live.pop(0)[1])
            self.dead += 1
        return self.rid

    def done(self, rid):
        self.f.write(b"\xff\xff\xff\xff" + rid.to_bytes(4, "little"))
        self.f.flush()
        self.live = [r for r in self.live if r[0] != rid]
        self.dead += 1
        if self.dead >= 64:
            self.f.close()
            with open(self.path + ".new", "wb") as f:
                for r in self.live:
                    f.write(r[1])
            import os
            os.rename(self.path + ".new", self.path)
            self.f = open(self.path, "ab")
            self.dead = 0


class Ours:
    def __init__(self, path, room):
        self.s = Store(path, room, self.problem)

    def problem(self, text):
        raise AssertionError(text)  # no problem is expected here

    def add(self, topic, msg):
        return self.s.add(topic, msg, 1, False)[0]

    def done(self, rid):
        self.s.done(rid)


def run(kind, pattern, progsize):
    f = flash.Flash(256)
    flash.mount(f, MOUNT, progsize)
    room = RAM_ROOM if pattern == "bounded" else 1 << 20
    try:
        store = kind(MOUNT + "/queue", room)
        e0, p0 = f.erases, f.programmed  # the filesystem's own making and the store's opening left out
        if pattern == "online":
            for _ in range(READINGS):
                store.done(store.add(TOPIC, MSG))
        else:
            rids = [store.add(TOPIC, MSG) for _ in range(READINGS)]
            for rid in rids:
                store.done(rid)  # those dropped for room are unknown to it by then: ignored
        return f.erases - e0, f.programmed - p0
    finally:
        if kind is Log:
            store.f.close()
        flash.unmount(MOUNT)


def main(progsizes):
    out = {"readings": READINGS, "msg": len(MSG), "topic": len(TOPIC), "block": flash.BLOCK,
           "store_module": getattr(sys.modules["store"], "__file__", "frozen"), "runs": []}
    print("store wear, %d QoS 1 readings of %d B (topic %d B), littlefs v2, %d B blocks; store from %s"
          % (READINGS, len(MSG), len(TOPIC), flash.BLOCK, out["store_module"]))
    print("%-9s %-8s %9s %12s %9s %12s %9s %12s %10s %12s" % (
        "progsize", "pattern", "naive er", "naive B", "log er", "log B", "store er", "store B",
        "vs naive", "readings/er"))
    for ps in progsizes:
        for pattern in ("online", "outage", "bounded"):
            row = {"progsize": ps, "pattern": pattern}
            for name, kind in (("naive", Naive), ("log", Log), ("store", Ours)):
                row[name] = run(kind, pattern, ps)
            e = row["store"][0]
            row["ratio"] = row["naive"][0] / e if e else 0
            row["per_erase"] = READINGS / e if e else READINGS
            out["runs"].append(row)
            print("%-9d %-8s %9d %12d %9d %12d %9d %12d %9.1fx %12.1f" % (
                ps, pattern, row["naive"][0], row["naive"][1], row["log"][0], row["log"][1],
                e, row["store"][1], row["ratio"], row["per_erase"]))
    print("STORE_WEAR " + json.dumps(out))


main([int(a) for a in sys.argv[1:]] or [32, 256])
