"""emitter_micro.store on littlefs v2 (vfs.VfsLfs2, as ESP32 and RP2 boards format their flash) on a RAM
flash (flash.py): a filesystem that fills up, power cuts anywhere in a write, kill/restart cycles.

MicroPython only (CPython has no littlefs): host_tests/store/test_store.py runs each `test_*` here under the
unix port and the frozen 32-bit build.
"""
import flash
import store
from store_env import Rand, Reports

T = b"0123456789abcdef0123456789abcdef/sensors/"
AT = "/k"


def _boot(f, room, mkfs=False):
    """The next boot of f's flash: mounted at AT, the store made there. -> (flash, store, reports, records)."""
    flash.unmount(AT)
    if not mkfs:
        f = f.reboot()
    flash.mount(f, AT, mkfs=mkfs)
    r = Reports()
    s = store.Store(AT + "/q", room, r)
    return f, s, r, s.load()


def _reading(i):
    return b"reading %06d %s" % (i, b"." * 48)  # 64 B


def test_a_full_filesystem_is_reported_once_and_the_device_runs_on():
    for size in (200, 40):  # records in 4 KB data blocks, and records inline in littlefs's metadata
        f = flash.Flash(10)
        f, s, rep, _ = _boot(f, 1 << 20, mkfs=True)
        kept = []
        for i in range(2000):
            rid = s.add(T, b"%06d" % i + b"x" * size, 1, False)[0]
            if rid is None:
                break
            kept.append(rid)
        got = rep.take()
        assert s.off and len(got) == 1 and "28" in got[0], (size, got)  # ENOSPC
        assert len(kept) > 3, kept
        assert s.add(T, b"x", 1, False) == (None, ()) and rep.take() == []
        # What was written before the filesystem filled is kept across a reboot.
        f, s, rep, recs = _boot(f, 1 << 20)
        assert [x[0] for x in recs] == kept, (size, len(recs), len(kept))
        # Delivered, it goes; then the store writes again.
        for r in kept:
            s.done(r)
        assert s.size == 0 and not s.off
        again = s.add(T, b"again", 1, False)[0]
        assert again is not None, rep.take()
        f, s, rep, recs = _boot(f, 1 << 20)
        assert [x[2] for x in recs] == [b"again"] and rep.take() == []
        flash.unmount(AT)


def test_a_power_cut_anywhere_in_an_add_loses_nothing_written_before():
    f = flash.Flash(32)
    f, s, _rep, _ = _boot(f, 1 << 20, mkfs=True)
    before = [s.add(T, _reading(i), 1, False)[0] for i in range(12)]
    s.done(before[3])
    del before[3]
    flash.unmount(AT)
    snap = bytes(f.data)
    # How much one add programs: its cut points are spread over all of it.
    f, s, _rep, _ = _boot(f, 1 << 20)
    p0 = f.programmed
    s.add(T, _reading(99), 1, False)
    cost = f.programmed - p0
    assert cost > 0
    points = landed = 0
    budget = 0
    while budget <= cost + 32:
        f.data[:] = snap
        f, s, _rep, _ = _boot(f, 1 << 20)
        f.cut_after(budget)
        rid = s.add(T, _reading(99), 1, False)[0]
        f, s, rep, recs = _boot(f, 1 << 20)
        got = [x[0] for x in recs]
        assert got[:len(before)] == before, (budget, got)
        # The add is there whole if it returned its rid. If it did not, it may be there all the same:
        # littlefs's commit landed and a later step of the write failed (never torn: commits are atomic).
        extra = recs[len(before):]
        if rid is not None:
            assert [x[0] for x in extra] == [rid], (budget, rid, got)
        else:
            assert len(extra) <= 1, (budget, got)
            landed += len(extra)
        assert [x[2] for x in extra] in ([], [_reading(99)]), (budget, extra)
        assert rep.take() == [], budget
        points += 1
        budget += 1
    assert points > cost, points
    print("cut points:", points, "- of the failed adds,", landed, "had landed")
    flash.unmount(AT)


def test_twenty_kill_restart_cycles_in_a_long_outage_lose_nothing():
    """Readings added with no broker; the power goes at a random point of a write, 20 times in a row."""
    f = flash.Flash(64)
    room = 6000
    rnd = Rand(7)
    held = {}  # rid -> message: what an add completed and no drop has taken since
    n = 0
    f, s, rep, recs = _boot(f, room, mkfs=True)
    cuts = 0
    for cycle in range(20):
        f.cut_after(rnd.below(24000))
        while not s.off:
            rid, gone = s.add(T, _reading(n), 1, False)
            n += 1
            for g in gone:
                del held[g]
            if rid is not None:
                held[rid] = _reading(n - 1)
        cuts += f.dead
        f, s, rep, recs = _boot(f, room)
        got = dict((x[0], x[2]) for x in recs)
        lost = [r for r in held if got.get(r) != held[r]]
        assert not lost, (cycle, lost)
        # Beyond what it held: at most the add the power cut short (its commit may have landed).
        assert len(got) <= len(held) + 1, (cycle, len(got), len(held))
        assert s.size <= room, (cycle, s.size)
        assert [x[0] for x in recs] == sorted(got), cycle
        held = got
        rep.take()
    assert cuts == 20 and n > 20 * 3, (cuts, n)
    # The broker is back: all delivered, the store is empty, and stays so across a reboot.
    for r in list(held):
        s.done(r)
    assert s.size == 0
    f, s, rep, recs = _boot(f, room)
    assert recs == [] and rep.take() == []
    flash.unmount(AT)
