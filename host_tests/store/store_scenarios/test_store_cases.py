"""emitter_micro.store: what it keeps across a reopen, its bound, damaged records and stores, failed writes.

Plain `def test_x():` functions, MicroPython compatible: pytest runs them under CPython on the host's
filesystem, and host_tests/store/test_store.py runs each under the unix port and the frozen 32-bit build,
on the host's filesystem and on littlefs v2 (store_env.py says where).
"""
import os

import store
from store_env import Rand, exists, files, fresh, open_store, read, rmtree, write

T = b"0123456789abcdef0123456789abcdef/sensors/"


def _fill(s, n, msg=b"reading %03d"):
    return [s.add(T, msg % i, 1, False)[0] for i in range(n)]


def _msgs(recs):
    return [r[2] for r in recs]


def test_round_trip_across_a_reopen():
    p = fresh()
    s, rep, recs = open_store(p)
    assert recs == [] and rep.take() == []
    want = [(T, b"a", 1, False), (b"t/2", b"", 0, True), (T, bytes(range(256)), 1, True), (b"", b"x" * 300, 0, False)]
    rids = [s.add(*w) for w in want]
    assert all(g == () for _r, g in rids)
    rids = [r for r, _g in rids]
    assert rids == sorted(rids) and len(set(rids)) == 4
    s2, rep, recs = open_store(p)
    assert rep.take() == []
    assert recs == [(rid,) + w for rid, w in zip(rids, want)], recs
    assert s2.size == s.size and s2.dropped == 0


def test_done_removes_and_order_is_kept_as_slots_are_reused():
    p = fresh()
    s, _rep, _ = open_store(p)
    rids = _fill(s, 6)
    s.done(rids[0])
    s.done(rids[3])
    more = _fill(s, 3, b"later %d")  # these take the emptied slots: order must come from rids, not slots
    s.done(rids[5])
    s.done(12345)  # unknown: ignored
    s.done(rids[0])  # twice: ignored
    _s2, rep, recs = open_store(p)
    assert rep.take() == []
    assert [r[0] for r in recs] == [rids[1], rids[2], rids[4]] + more
    assert _msgs(recs) == [b"reading 001", b"reading 002", b"reading 004", b"later 0", b"later 1", b"later 2"]


def test_rids_go_on_after_a_reopen():
    p = fresh()
    s, _rep, _ = open_store(p)
    rids = _fill(s, 3)
    s2, _rep, recs = open_store(p)
    r = s2.add(T, b"new", 0, False)[0]
    assert r > rids[-1]
    _s3, _rep, recs = open_store(p)
    assert [x[0] for x in recs] == rids + [r]


def test_everything_delivered_leaves_an_empty_store_and_few_files():
    p = fresh()
    s, _rep, _ = open_store(p)
    for r in _fill(s, 30):
        s.done(r)
    assert s.size == 0
    assert len(files(p)) <= 8  # emptied slots beyond the spares are removed, not kept forever
    _s, rep, recs = open_store(p)
    assert recs == [] and rep.take() == []


def test_bound_drops_the_oldest_and_says_which():
    p = fresh()
    one = 11 + len(T) + len(b"reading 000")
    s, rep, _ = open_store(p, room=3 * one)
    rids = _fill(s, 3)
    assert s.size == 3 * one and s.dropped == 0
    r, gone = s.add(T, b"reading 003", 1, False)
    assert gone == (rids[0],) and s.dropped == 1 and s.size == 3 * one
    r2, gone = s.add(T, b"x" * (len(b"reading 000") + one), 1, False)  # takes two records' room
    assert gone == (rids[1], rids[2]) and s.dropped == 3 and s.size <= 3 * one
    assert rep.take() == []  # the client reports drops: it counts them in `dropped`
    _s, rep, recs = open_store(p, room=3 * one)
    assert [x[0] for x in recs] == [r, r2] and rep.take() == []
    assert len([n for n in os.listdir(p) if n.isdigit() and read(p + "/" + n)]) == 2  # the dropped are gone from flash


def test_a_smaller_room_at_reopen_drops_the_oldest_and_reports():
    p = fresh()
    s, _rep, _ = open_store(p)
    rids = _fill(s, 5)
    one = 11 + len(T) + len(b"reading 000")
    s2, rep, recs = open_store(p, room=2 * one)
    assert [x[0] for x in recs] == rids[3:] and s2.dropped == 3 and s2.size == 2 * one
    got = rep.take()
    assert len(got) == 1 and "3 oldest" in got[0], got
    _s, rep, recs = open_store(p, room=2 * one)
    assert [x[0] for x in recs] == rids[3:] and rep.take() == []


def test_a_record_larger_than_room_is_not_stored():
    p = fresh()
    s, rep, _ = open_store(p, room=100)
    kept = s.add(b"t", b"12345", 1, False)[0]
    assert s.add(T, b"x" * 100, 1, False) == (None, ())
    assert rep.take() == [] and not s.off
    _s, _rep, recs = open_store(p, room=100)
    assert [x[0] for x in recs] == [kept]


def _torn(path, rids, slot_of_last, cut):
    f = "%s/%d" % (path, slot_of_last)
    whole = read(f)
    write(f, whole[:cut])
    s, rep, recs = open_store(path)
    got = rep.take()
    if cut:
        assert len(got) == 1 and "1 damaged" in got[0], (cut, got)
    else:  # an empty file: a write that never began, no damage to report
        assert got == [], got
    assert [x[0] for x in recs] == rids, (cut, recs)
    # Reported once: the damaged slot was emptied and is reused.
    r = s.add(T, b"after", 1, False)[0]
    _s, rep, recs2 = open_store(path)
    assert rep.take() == [] and [x[0] for x in recs2] == rids + [r]
    return len(whole)


def test_the_last_record_cut_at_every_byte_keeps_every_whole_record():
    base = fresh("torn")
    os.mkdir(base)
    size = None
    cut = 0
    while size is None or cut < size:
        p = "%s/%d" % (base, cut)
        s, _rep, _ = open_store(p)
        rids = _fill(s, 4)
        last = files(p)[-1]
        size = _torn(p, rids[:3], last, cut)
        rmtree(p)
        cut += 1
    assert size == 11 + len(T) + len(b"reading 000")


def test_a_record_cut_in_the_middle_keeps_those_before_and_after():
    p = fresh()
    s, _rep, _ = open_store(p)
    rids = _fill(s, 5)
    slot = s._live[2][1]
    f = "%s/%d" % (p, slot)
    write(f, read(f)[:20])
    _s, rep, recs = open_store(p)
    assert len(rep.take()) == 1
    assert [x[0] for x in recs] == rids[:2] + rids[3:]


def test_a_flipped_byte_loses_that_record_only():
    for seed in range(1, 9):
        rnd = Rand(seed)
        p = fresh()
        s, _rep, _ = open_store(p)
        rids = _fill(s, 6)
        victim = rnd.below(6)
        f = "%s/%d" % (p, s._live[victim][1])
        d = bytearray(read(f))
        i = rnd.below(len(d))
        d[i] ^= 1 << rnd.below(8)
        write(f, d)
        _s, rep, recs = open_store(p)
        got = rep.take()
        assert len(got) == 1 and "damaged" in got[0], (seed, got)
        assert [x[0] for x in recs] == rids[:victim] + rids[victim + 1:], (seed, i)


def _set_aside(p, damage):
    s, _rep, _ = open_store(p)
    _fill(s, 3)
    damage(p)
    s, rep, recs = open_store(p)
    got = rep.take()
    assert len(got) == 1 and "moved to " + p + ".bad" in got[0], got
    assert recs == [] and s.size == 0
    assert exists(p + ".bad")
    s.add(T, b"fresh", 1, False)
    _s, rep, recs = open_store(p)  # reported once: the new store is sound
    assert rep.take() == [] and _msgs(recs) == [b"fresh"]


def test_a_store_of_another_version_is_set_aside_whole():
    def v2(p):
        write(p + "/v", b"EMS\x02")
    p = fresh()
    _set_aside(p, v2)
    assert read(p + ".bad/v") == b"EMS\x02" and len(files(p + ".bad")) == 3  # kept as it was, not deleted


def test_a_garbage_or_cut_marker_is_set_aside():
    for cut in range(4):
        _set_aside(fresh(), lambda p: write(p + "/v", read(p + "/v")[:cut]))
    _set_aside(fresh(), lambda p: write(p + "/v", b"\x00garbage\xff" * 7))
    _set_aside(fresh(), lambda p: os.remove(p + "/v"))


def test_a_garbage_file_where_the_store_goes_is_set_aside():
    p = fresh()
    write(p, b"not a store at all \x00\xff" * 20)
    s, rep, recs = open_store(p)
    got = rep.take()
    assert len(got) == 1 and p + ".bad" in got[0] and recs == []
    assert read(p + ".bad")[:19] == b"not a store at all "
    s.add(T, b"ok", 1, False)
    _s, rep, recs = open_store(p)
    assert rep.take() == [] and _msgs(recs) == [b"ok"]


def test_each_set_aside_gets_its_own_name():
    p = fresh()
    for i in range(3):
        write(p, b"garbage %d" % i)
        _s, rep, _ = open_store(p)
        assert len(rep.take()) == 1
        rmtree(p)
    assert read(p + ".bad") == b"garbage 0" and read(p + ".bad1") == b"garbage 1" and read(p + ".bad2") == b"garbage 2"


def test_an_empty_directory_becomes_a_store_quietly():
    p = fresh()
    os.mkdir(p)
    s, rep, recs = open_store(p)
    assert rep.take() == [] and recs == []
    s.add(T, b"x", 0, False)
    _s, _rep, recs = open_store(p)
    assert _msgs(recs) == [b"x"]


class _Full:
    """The module's `open` replaced: writes fail with ENOSPC (28 on every port; MicroPython's errno module
    has no name for it) while on; reads go through."""

    def __init__(self):
        self.on = False
        self.real = open

    def __call__(self, name, mode="r"):
        if self.on and "w" in mode:
            raise OSError(28, "ENOSPC")
        return self.real(name, mode)


def test_a_failed_write_is_reported_once_and_stops_writing_until_all_is_delivered():
    p = fresh()
    full = _Full()
    store.open = full
    try:
        s, rep, _ = open_store(p)
        rids = _fill(s, 3)
        full.on = True
        assert s.add(T, b"no room", 1, False) == (None, ())
        got = rep.take()
        assert len(got) == 1 and "28" in got[0] and "stopped" in got[0], got
        assert s.off
        assert s.add(T, b"still none", 1, False) == (None, ()) and rep.take() == []  # no report per publish
        full.on = False
        assert s.add(T, b"off until delivered", 1, False) == (None, ())
        for r in rids[:2]:
            s.done(r)
        assert s.off
        s.done(rids[2])
        assert not s.off  # everything it held is delivered: it tries writing again
        r = s.add(T, b"again", 1, False)[0]
        assert r is not None and rep.take() == []
    finally:
        del store.open
    _s, rep, recs = open_store(p)
    assert rep.take() == [] and _msgs(recs) == [b"again"]


def test_a_store_that_cannot_be_made_is_reported_and_off():
    p = fresh() + "/no/such/folder"
    s, rep, recs = open_store(p)
    got = rep.take()
    assert len(got) == 1 and recs == [] and s.off
    assert s.add(T, b"x", 1, False) == (None, ())
    s.done(1)
