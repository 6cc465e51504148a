"""The broker unreachable, then back: the device reaches the real Emitter broker through the test's
Toxiproxy proxy, closed (connections refused) while the device publishes and loops, then opened.
Reconnect backoff, the bounded loop() and flush(), the queue's count and byte bounds, its copies,
and publish()/loop() before connect(). (Killing and restarting the broker itself, down at boot
included, is in test_real_broker_resilience.py.)

Run by host_tests/resilience/test_resilience_broker.py on both runtimes, per umqtt version.
"""
import time

import emitter_micro
from bs_util import as_env, close, options, payloads, proxied, proxy_enabled, raises, settle, uid, wait_for, watch


def case_queue_overflow_drops_oldest_and_reports(env):
    env = as_env(env)
    k = env.keys["test"]
    ch = "test/%s/over/" % uid(env, "r")
    watcher, got = watch(env, ch)
    proxy_enabled(env, False)
    errors = []
    em = proxied(env, queue_size=3)
    em.on("error", lambda e: errors.append(e["message"]))
    try:
        em.connect()  # no exception: the failure is told and retried
        assert not em.connected and errors and "connect to %s failed" % env.host in errors[0], errors
        for i in range(5):
            em.publish(k, ch, "m%d" % i)
        em.loop()
        assert em.pending() == 3 and em.dropped == 2, (em.pending(), em.dropped)
        full = [e for e in errors if "queue full" in e]
        assert len(full) == 2 and k not in full[0] and ch in full[0], full
        proxy_enabled(env, True)
        assert em.flush(5000) and em.connected
        wait_for([watcher, em], lambda: len(got) >= 3, "the three kept publishes")
        settle([watcher, em], 200)
        assert payloads(got) == [b"m2", b"m3", b"m4"], payloads(got)
    finally:
        proxy_enabled(env, True)
        close(em, watcher)


def case_queue_bytes_bound(env):
    env = as_env(env)
    k = env.keys["test"]
    ch = "test/%s/bytes/" % uid(env, "r")
    watcher, got = watch(env, ch)
    proxy_enabled(env, False)
    # An entry costs its payload and 64 bytes (tuple, bytes header, list slot): room for two of 5 bytes.
    room = 2 * (64 + 5) + 10
    em = proxied(env, queue_bytes=room)
    try:
        em.connect()
        em.publish(k, ch, b"12345")
        em.publish(k, ch, b"67890")
        assert em.pending() == 2 and em.dropped == 0
        em.publish(k, ch, b"abc")
        assert em.pending() == 2 and em.dropped == 1
        raises(ValueError, em.publish, k, ch, b"x" * (room - 64 + 1))  # could never fit
        proxy_enabled(env, True)
        assert em.flush(5000)
        wait_for([watcher, em], lambda: len(got) >= 2, "the two kept publishes")
        assert payloads(got) == [b"67890", b"abc"], payloads(got)
    finally:
        proxy_enabled(env, True)
        close(em, watcher)


def case_queue_copies_reused_buffers(env):
    env = as_env(env)
    k = env.keys["test"]
    ch = "test/%s/copies/" % uid(env, "r")
    watcher, got = watch(env, ch)
    proxy_enabled(env, False)
    em = proxied(env)
    try:
        em.connect()
        buf = bytearray(b"aaaa")
        em.publish(k, ch, buf)
        buf[:] = b"bbbb"
        em.publish(k, ch, buf, qos=1)
        buf[:] = b"cccc"
        proxy_enabled(env, True)
        assert em.flush(5000)
        wait_for([watcher, em], lambda: len(got) >= 2, "both queued publishes")
        assert payloads(got) == [b"aaaa", b"bbbb"], payloads(got)
    finally:
        proxy_enabled(env, True)
        close(em, watcher)


def case_loop_and_flush_bounded_while_down(env):
    """With the broker unreachable, loop(100) and flush(150) return in about that time (a long
    backoff is waited out across calls, not inside one), flush() with False."""
    env = as_env(env)
    proxy_enabled(env, False)
    em = proxied(env, backoff_ms=(5000, 10000))
    try:
        em.connect()
        em.publish(env.keys["test"], "test/%s/down/" % uid(env, "r"), "x")
        t0 = time.ticks_ms()
        assert em.loop(100) == 0
        took = time.ticks_diff(time.ticks_ms(), t0)
        t0 = time.ticks_ms()
        assert em.flush(150) is False and em.pending() == 1
        took2 = time.ticks_diff(time.ticks_ms(), t0)
        print("broker unreachable: loop(100) took %d ms, flush(150) %d ms" % (took, took2))
        assert took < 1000 and took2 < 1000, (took, took2)
    finally:
        proxy_enabled(env, True)
        close(em)


def case_backoff_grows_and_is_bounded(env):
    env = as_env(env)
    proxy_enabled(env, False)
    attempts = []
    em = proxied(env, backoff_ms=(10, 40))
    em.on("error", lambda e: attempts.append(e["message"]))
    try:
        em.connect()
        delays = []
        for i in range(6):
            delays.append(em._backoff.delay)
            em.loop(200)
        assert delays[0] == 10 and max(delays) == 40 and delays == sorted(delays), delays
        assert len(attempts) >= 5 and all("connect to" in a for a in attempts), attempts
        proxy_enabled(env, True)
        wait_for(em, lambda: em.connected, "the connection once the broker is back")
        assert em._backoff.delay == 0  # the next failure starts from the bottom again
    finally:
        proxy_enabled(env, True)
        close(em)


def case_publish_and_loop_before_connect(env):
    env = as_env(env)
    k = env.keys["test"]
    ch = "test/%s/early/" % uid(env, "r")
    watcher, got = watch(env, ch)
    ups = []
    em = emitter_micro.Emitter(options(env, reconnect=True))
    em.on("connect", lambda: ups.append(1))
    em.publish(k, ch, "early", qos=1)  # queued: nothing to send it on yet
    assert em.pending() == 1 and not em.connected and ups == []
    wait_for([em, watcher], lambda: em.connected and not em.pending(), "loop() to connect and send")
    wait_for([em, watcher], lambda: got, "the early publish")
    assert payloads(got) == [b"early"] and ups == [1], (payloads(got), ups)
    close(em, watcher)
