"""The store (the "store" option, issue 18) in both clients, against the real broker reached through the
test's Toxiproxy proxy (closed: the broker unreachable). A restart is a second client made on the same
store path in the same process (the first one never heard of again); the device process killed and
started again is in host_tests/store/test_store_kill.py, whose device is device_kill() below.

Run by host_tests/store/test_store_broker.py on every runtime. The store lives on the host's filesystem
(/tmp), and on littlefs in RAM for the full filesystem (CPython has no littlefs: there the store's
writes are made to fail with ENOSPC once the "filesystem" is full).
"""
import os
import sys
import time

import emitter_micro
from bs_util import as_env, close, exists, options, payloads, proxied, proxy_enabled, settle, toxic, uid, wait_for, watch

MP = sys.implementation.name == "micropython"


def _path(env, name):
    return "/tmp/ems-%s-%s" % (env.run, name)


def _rmtree(p):
    try:
        names = os.listdir(p)
    except OSError:
        if exists(p):
            os.remove(p)
        return
    for n in names:
        _rmtree(p + "/" + n)
    os.rmdir(p)


def _device(env, path=None, **extra):
    if path is not None:
        extra["store"] = path
    return proxied(env, **extra)


def _cut(env, em):
    proxy_enabled(env, False)
    wait_for(em, lambda: not em.connected, "the client to see its link cut")


def _loaded():
    return "emitter_micro.store" in sys.modules


def case_store_off_changes_nothing_and_is_not_imported(env):
    env = as_env(env)
    k = env.keys["test"]
    ch = "test/%s/off/" % uid(env, "s")
    watcher, got = watch(env, ch)
    em = _device(env)
    em2 = _device(env, "")  # empty: none (a board's config.py says STORE = "")
    try:
        em.connect()
        em.publish(k, ch, "a")
        em.publish(k, ch, "b", qos=1)
        _cut(env, em)
        em.publish(k, ch, "c")
        em.publish(k, ch, "d", qos=1)
        assert em.pending() == 2 and [e[4] for e in em._queue.q] == [None, None], em._queue.q
        proxy_enabled(env, True)
        assert em.flush(5000)
        wait_for([watcher, em], lambda: len(got) >= 4, "the four publishes")
        assert payloads(got) == [b"a", b"b", b"c", b"d"], payloads(got)
        assert em._store is None and em2._store is None
        assert not _loaded(), "emitter_micro.store imported without the option"
    finally:
        proxy_enabled(env, True)
        close(em, em2, watcher)
    path = _path(env, "on")
    try:
        em = _device(env, path)
        assert _loaded() and em._store is not None  # and with it, it is
    finally:
        _rmtree(path)


def case_store_keeps_queued_publishes_across_a_restart(env):
    """pending() counts the records of the last boot from the moment the client is made; the first connect
    sends them, oldest first, before anything published since; what was acknowledged is not kept."""
    env = as_env(env)
    k = env.keys["test"]
    ch = "test/%s/restart/" % uid(env, "s")
    path = _path(env, "q")
    watcher, got = watch(env, ch)
    em = _device(env, path)
    em2 = em3 = None
    try:
        em.connect()
        em.publish(k, ch, "a", qos=1)  # acknowledged: its record went with the PUBACK
        em.publish(k, ch, "b")  # sent at once: never written
        assert em._store.size == 0, em._store.size
        # Both arrived before the cut: a QoS 0 publish still in flight when the link is cut may be lost.
        wait_for([watcher, em], lambda: len(got) >= 2, "the first two publishes")
        _cut(env, em)
        em.publish(k, ch, "c", qos=1)
        em.publish(k, ch, "d")  # QoS 0, waiting: written
        em.publish(k, ch, b"e" * 100, qos=1)
        assert em.pending() == 3 and em._store.size > 0
        assert [e[4] is not None for e in em._queue.q] == [True] * 3
        # The device restarts: a new client on the same store; the old one is never heard of again.
        em2 = _device(env, path)
        assert em2.pending() == 3, em2.pending()
        em2.publish(k, ch, "f", qos=1)  # made after the restart: after what the store kept
        em2.publish(k, ch, "g")
        assert em2.pending() == 5, em2.pending()
        proxy_enabled(env, True)
        em2.connect()
        assert em2.flush(5000) and em2.connected
        wait_for([watcher, em2], lambda: len(got) >= 7, "the seven publishes, not only %s" % payloads(got))
        settle([watcher, em2], 200)
        assert payloads(got) == [b"a", b"b", b"c", b"d", b"e" * 100, b"f", b"g"], payloads(got)
        assert em2._store.size == 0 and em2.dropped == 0
        em3 = _device(env, path)  # the next boot: nothing left
        assert em3.pending() == 0
    finally:
        proxy_enabled(env, True)
        close(em, watcher, em2, em3)  # close() passes over a client never made (None)
        _rmtree(path)


def case_store_bound_drops_oldest_from_both(env):
    """The store's bound (queue_bytes; a record costs 11 B + topic + message) and the queue's (here a count):
    what either drops leaves both, is counted in dropped once and reported; the newest are kept."""
    env = as_env(env)
    k = env.keys["test"]
    ch = "test/%s/bound/" % uid(env, "s")
    path = _path(env, "b")
    watcher, got = watch(env, ch)
    errors = []
    proxy_enabled(env, False)
    # Room for 4 records of this topic and a 3-byte message; the RAM queue (64 B + message per entry) has more.
    rec = 11 + len(emitter_micro.Emitter(options(env))._topic(k, ch, None, True)) + 3
    room = 4 * rec + 10
    em = _device(env, path, queue_bytes=room)
    em.on("error", lambda e: errors.append(e["message"]))
    em2 = em3 = None
    try:
        em.connect()
        for i in range(10):
            em.publish(k, ch, "m%02d" % i, qos=1)
        s = em._store
        assert s.size <= room and s.size == 4 * rec, (s.size, room, rec)
        assert em.pending() == 4 and em.dropped == 6, (em.pending(), em.dropped)
        told = [e for e in errors if "full: dropped the oldest publish" in e]
        assert len(told) == 6 and "store full" in told[0] and ch in told[0], errors
        # The queue's bound (queue_size) drops first now: its dropped entries leave the store too.
        em2 = _device(env, path, queue_bytes=room, queue_size=2)
        assert em2.pending() == 2 and em2.dropped == 2 and em2._store.size == 2 * rec, (em2.pending(), em2._store.size)
        em2.publish(k, ch, "new", qos=1)
        assert em2.pending() == 2 and em2.dropped == 3 and em2._store.size == 2 * rec
        em3 = _device(env, path, queue_bytes=room)
        assert em3.pending() == 2 and em3.dropped == 0
        proxy_enabled(env, True)
        em3.connect()
        assert em3.flush(5000)
        wait_for([watcher, em3], lambda: len(got) >= 2, "the two kept publishes")
        settle([watcher, em3], 300)
        assert payloads(got) == [b"m09", b"new"], payloads(got)
        assert em3._store.size == 0
    finally:
        proxy_enabled(env, True)
        close(em, watcher, em2, em3)  # close() passes over a client never made (None)
        _rmtree(path)


def _write(p, data):
    with open(p, "wb") as f:
        f.write(data)


def case_store_bad_store_reported_through_the_error_event(env):
    """A store of another version, garbage or a torn record: reported once through the 'error' event (held
    until a handler is registered), set aside, and the device starts and publishes."""
    env = as_env(env)
    k = env.keys["test"]
    ch = "test/%s/bad/" % uid(env, "s")
    watcher, got = watch(env, ch)
    paths = [_path(env, "v"), _path(env, "g"), _path(env, "t")]
    os.mkdir(paths[0])
    _write(paths[0] + "/v", b"EMS\x07")  # another version
    _write(paths[0] + "/0", b"whatever")
    _write(paths[1], b"\x00garbage\xff" * 10)  # a file where the store's folder goes
    ems = []
    try:
        for p in paths[:2]:
            em = _device(env, p)
            ems.append(em)
            assert em.pending() == 0
            errors = []
            em.on("error", lambda e: errors.append(e))  # after it was made: held until now, told by loop()
            wait_for(em, lambda: em.connected and errors, "the held report")
            bad = [e for e in errors if "not a store of this version" in e["message"]]
            assert len(bad) == 1 and p in bad[0]["message"] and bad[0]["status"] == 0, errors
            assert exists(p + ".bad"), "not set aside"
            em.publish(k, ch, "after " + p[-1], qos=1)
        # A record torn by a power cut: skipped and reported; the records around it are delivered.
        proxy_enabled(env, False)
        em = _device(env, paths[2])
        ems.append(em)
        for i in range(3):
            em.publish(k, ch, "t%d" % i, qos=1)
        names = sorted(n for n in os.listdir(paths[2]) if n.isdigit())
        with open(paths[2] + "/" + names[1], "rb") as f:
            whole = f.read()
        _write(paths[2] + "/" + names[1], whole[:-3])
        em = _device(env, paths[2])
        ems.append(em)
        errors = []
        em.on("error", lambda e: errors.append(e["message"]))
        assert em.pending() == 2
        proxy_enabled(env, True)
        wait_for(em, lambda: em.connected and not em.pending(), "the intact records sent")
        assert [e for e in errors if "1 damaged record(s) skipped" in e], errors
        wait_for([watcher, em], lambda: len(got) >= 4, "every publish")
        settle([watcher, em], 200)
        assert payloads(got) == [b"after v", b"after g", b"t0", b"t2"], payloads(got)
    finally:
        proxy_enabled(env, True)
        close(watcher, *ems)
        for p in paths:
            _rmtree(p)
            _rmtree(p + ".bad")


class _Enospc:
    """CPython has no littlefs: the store's open() for writing fails with ENOSPC once `room` records are in."""

    def __init__(self, store_mod, room):
        self.mod, self.room = store_mod, room
        self.files = set()

    def __call__(self, name, mode="r"):
        if "w" in mode and name[-1:].isdigit() and name not in self.files:
            if len(self.files) >= self.room:
                raise OSError(28, "No space left on device")
            self.files.add(name)
        return open(name, mode)


def case_store_full_filesystem_keeps_readings_in_ram(env):
    """A full filesystem: reported once (error event), writing stops, the readings stay in RAM and all go out
    once the broker is back; then the store writes again."""
    env = as_env(env)
    k = env.keys["test"]
    ch = "test/%s/full/" % uid(env, "s")
    watcher, got = watch(env, ch)
    if MP:
        import blockfile
        where = blockfile.mount(blockfile.Flash(None, 8), "/full")  # littlefs on 8 blocks of RAM
        path = where + "/q"
    else:
        import emitter_micro.store as S
        S.open = _Enospc(S, 3)
        path = _path(env, "full")
    errors = []
    proxy_enabled(env, False)
    em = _device(env, path)
    em.on("error", lambda e: errors.append(e["message"]))
    try:
        em.connect()
        msgs = [b"%02d" % i + b"x" * 198 for i in range(10)]  # 200 B: each record in a 4 KB data block of its own
        for m in msgs:
            em.publish(k, ch, m, qos=1)
        full = [e for e in errors if "writing stopped" in e]
        print("full filesystem after %d records: %s" % (len([e for e in em._queue.q if e[4] is not None]), full))
        assert len(full) == 1 and "28" in full[0], errors
        assert em._store.off and em.pending() == 10 and em.dropped == 0
        proxy_enabled(env, True)
        assert em.flush(5000)
        wait_for([watcher, em], lambda: len(got) >= 10, "the ten readings")
        settle([watcher, em], 200)
        assert payloads(got) == msgs, [p[:2] for p in payloads(got)]
        assert em._store.size == 0 and not em._store.off  # all delivered: writing again
    finally:
        proxy_enabled(env, True)
        close(em, watcher)
        if MP:
            blockfile.unmount("/full")
        else:
            del S.open
            _rmtree(path)


def _alloc(f, n=100):
    """Bytes f() allocates over n calls (MicroPython: gc.mem_alloc), after 10 calls to warm up."""
    import gc
    for _ in range(10):
        f()
    gc.collect()
    before = gc.mem_alloc()
    gc.disable()
    try:
        for _ in range(n):
            f()
        return gc.mem_alloc() - before
    finally:
        gc.enable()


def case_store_adds_no_allocation_to_the_qos0_publish(env):
    """A QoS 0 publish on a healthy link allocates nothing (MicroPython, where gc.mem_alloc tells), without
    the store and with it (one sent at once is never written)."""
    import gc
    if not hasattr(gc, "mem_alloc"):
        return
    env = as_env(env)
    k = env.keys["test"]
    ch = "test/%s/alloc/" % uid(env, "s")
    path = _path(env, "alloc")
    msg = b"x" * 32
    used = {}
    try:
        for store in (None, path):
            em = _device(env, store)
            em.connect()
            used[store] = _alloc(lambda: em.publish(k, ch, msg))
            assert em._store is None or em._store.size == 0
            assert _loaded() == (store is not None)
            close(em)
    finally:
        _rmtree(path)
    print("100 QoS 0 publishes allocated %d bytes without the store, %d with it" % (used[None], used[path]))
    assert used[None] < 100 and used[path] < 100, used


# --- the asyncio client ----------------------------------------------------------------------------
def case_store_aio(env):
    import asyncio
    asyncio.run(_aio(as_env(env)))


async def _aio(env):
    import asyncio
    from bs_aio import aopts, take, until
    from emitter_micro import aio
    k = env.keys["test"]
    ch = "test/%s/aio/" % uid(env, "s")
    path = _path(env, "aio")
    bad = _path(env, "aiobad")
    o = aopts(env, port=env.proxy_port, reconnect=True, backoff_ms=(50, 200), timeout=2, store=path)
    watcher = await aio.connect(aopts(env))
    await watcher.subscribe(k, ch)
    em = aio.Emitter(o)
    em2 = em3 = None
    try:
        await em.connect()
        await em.publish(k, ch, "a", qos=1)  # acknowledged: its record went with the PUBACK
        assert em._store.size == 0
        proxy_enabled(env, False)
        await until(lambda: not em.connected, "the link cut")
        await em.publish(k, ch, "b", qos=1)
        await em.publish(k, ch, "c")
        assert em.pending() == 2 and em._store.size > 0
        await em.disconnect()
        em2 = aio.Emitter(o)  # the restart
        assert em2.pending() == 2, em2.pending()
        await em2.publish(k, ch, "d", qos=1)  # not connected yet: queued behind what the store kept
        assert em2.pending() == 3
        proxy_enabled(env, True)
        await em2.connect()
        assert await em2.flush(5000)
        got = await take(watcher, 4)
        assert [m.binary for m in got] == [b"a", b"b", b"c", b"d"], [m.binary for m in got]
        assert em2._store.size == 0
        await em2.disconnect()
        # Another version's store: reported through the error event, registered after the client was made.
        os.mkdir(bad)
        _write(bad + "/v", b"EMS\x09")
        em3 = aio.Emitter(dict(o, store=bad))
        errors = []
        em3.on("error", lambda e: errors.append(e["message"]))
        await em3.connect()
        await until(lambda: errors, "the held report")
        assert "not a store of this version" in errors[0] and exists(bad + ".bad"), errors
        await em3.publish(k, ch, "e", qos=1)
        got = await take(watcher, 1)
        assert got[0].binary == b"e"
        await asyncio.sleep(0)
    finally:
        proxy_enabled(env, True)
        for x in (em, em2, em3, watcher):
            if x:
                await x.disconnect()
        for p in (path, bad, bad + ".bad"):
            _rmtree(p)


# --- the device of the kill tests (host_tests/store/test_store_kill.py) ------------------------------------
_stop_after_store = [0, False]  # the seq whose store write is the last thing the device does; armed


def _hold_after_store(seq):
    from emitter_micro import store as S
    add = S.Store.add
    _stop_after_store[0] = seq

    def held(self, topic, msg, qos, retain):
        r = add(self, topic, msg, qos, retain)
        if _stop_after_store[1]:
            print("STORED rid %s" % r[0])
            print("HOLD")
            while True:
                time.sleep(1)  # written, not sent: the test kills the process here
        return r
    S.Store.add = held


def _before(env, dev, seq):
    if seq == env.get("arm"):
        dev.arm()
    if seq == _stop_after_store[0]:
        _stop_after_store[1] = True
    if seq == env.get("toxic_at"):
        toxic(env, "timeout", "downstream", timeout=0)  # the PUBACKs (and all else) from now on held


def device_kill(env):
    """One boot of the device of the kill tests: readings {"seq": n} at QoS 1 to env.channel through the
    test's proxy, the store on littlefs in a file (blockfile.py) that outlives the process.

    env: host, proxy_port, key, channel, flash (the chip's file), blocks, room (queue_bytes), first and count
    (the readings of this boot), interval_ms, aio (the asyncio client), final (flush, then end; otherwise
    idle until killed), flush_ms; where to stop for the kill: arm with hold and cut (blockfile.Flash: the
    chip stops at its hold-th write from the publish of seq arm on, cut bytes of it made), stored_hold (the
    seq whose store write is the last thing done), toxic_at (from the publish of that seq, nothing comes back).
    Prints BOOT (pending, store size, room, files), PUB n / OK n around each publish, the chip's BLK and
    HOLD lines, EVENT error lines, and SENT at the end of a final boot.
    """
    env = as_env(env)
    import blockfile
    dev = blockfile.Flash(env.flash, env.blocks, env.get("hold", 0), env.get("cut", 0))
    blockfile.mount(dev)
    if env.get("stored_hold"):
        _hold_after_store(env.stored_hold)
    o = {"host": env.host, "port": env.proxy_port, "secure": False, "keepalive": 30, "timeout": 10,
         "backoff_ms": (100, 400), "queue_bytes": env.room, "store": "/flash/queue"}
    if env.get("aio"):
        import asyncio
        asyncio.run(_device_aio(env, o, dev))
    else:
        _device_sync(env, o, dev)


def _boot(em, o):
    print("BOOT pending %d size %d room %d files %d dropped %d"
          % (em.pending(), em._store.size, o["queue_bytes"], len(os.listdir("/flash/queue")), em.dropped))


def _reading(seq):
    return b'{"seq": %d}' % seq


def _device_sync(env, o, dev):
    em = emitter_micro.Emitter(o)
    em.on("error", lambda e: print("EVENT error %s" % e["message"]))
    _boot(em, o)
    em.connect()
    for seq in range(env.first, env.first + env.count):
        _before(env, dev, seq)
        print("PUB %d" % seq)
        em.publish(env.key, env.channel, _reading(seq), qos=1)
        print("OK %d" % seq)
        due = time.ticks_add(time.ticks_ms(), env.interval_ms)
        while time.ticks_diff(due, time.ticks_ms()) > 0:
            em.loop(max(0, min(20, time.ticks_diff(due, time.ticks_ms()))))
    if not env.get("final"):
        while True:
            em.loop(50)
    ok = em.flush(env.flush_ms)
    print("SENT DROPPED %d PENDING %d SIZE %d" % (em.dropped, em.pending(), em._store.size))
    em.disconnect()
    assert ok, "not flushed"


async def _device_aio(env, o, dev):
    import asyncio
    from emitter_micro import aio
    em = aio.Emitter(o)
    em.on("error", lambda e: print("EVENT error %s" % e["message"]))
    _boot(em, o)
    await em.connect()
    for seq in range(env.first, env.first + env.count):
        _before(env, dev, seq)
        print("PUB %d" % seq)
        await em.publish(env.key, env.channel, _reading(seq), qos=1)
        print("OK %d" % seq)
        await asyncio.sleep(env.interval_ms / 1000)
    if not env.get("final"):
        while True:
            await asyncio.sleep(1)
    ok = await em.flush(env.flush_ms)
    print("SENT DROPPED %d PENDING %d SIZE %d" % (em.dropped, em.pending(), em._store.size))
    await em.disconnect()
    assert ok, "not flushed"
