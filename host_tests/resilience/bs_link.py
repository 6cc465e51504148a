"""The link to the real Emitter broker: keepalive pings, packet ids, a link gone silent or cut
(the test's Toxiproxy proxy), reconnect off, failover over a host list, a resubscribe the broker
refuses. The faults a network makes while a device keeps working (half-open, reset, torn
packets, slow WiFi) are in bs_resilience.py.

Run by host_tests/resilience/test_resilience_broker.py on both runtimes, per umqtt version.
"""
import time

import emitter_micro
from bs_util import (as_env, client, close, options, payloads, proxy_enabled, raises, settle, toxic,
                     uid, untoxic, wait_for)


def _via_proxy(env, **extra):
    o = options(env, port=env.proxy_port)
    o.update(extra)
    return o


def case_keepalive_ping_answered(env):
    """keepalive 1 s, timeout 0.3 s, nothing else to send: loop() pings the broker after a second of
    quiet and its PINGRESP comes (unanswered, the link would be called dead 0.3 s after the ping)."""
    env = as_env(env)
    errors = []
    em = client(env, {"error": errors.append}, keepalive=1, timeout=0.3)
    pings = []
    real_ping = em._mqtt.ping

    def ping():
        pings.append(time.ticks_ms())
        real_ping()
    em._mqtt.ping = ping
    settle(em, 1500)
    assert pings and em.connected and errors == [], (pings, errors)
    assert em._link.ping_at is None  # the last PINGRESP is in
    close(em)


def case_poll_woken_with_nothing_to_read(env):
    """A poll may wake with nothing to read (a TLS record not all in, a spurious wake-up on a board): here
    it always does. loop(300) still waits out its 300 ms, and a QoS 1 publish still gets its PUBACK (it
    was taken for a timeout, and the link dropped), as a publish-only device and as a subscribed one."""
    env = as_env(env)
    k = env.keys["test"]
    ch = "test/%s/wake/" % uid(env, "r")
    errors, got = [], []
    em = client(env, {"error": errors.append})
    for subscribed in (False, True):
        if subscribed:
            em.subscribe(k, ch, handler=got.append)
        em._link.poller = lambda ms: None  # back at once, nothing to read
        t0 = time.ticks_ms()
        em.loop(300)
        waited = time.ticks_diff(time.ticks_ms(), t0)
        assert waited >= 290, (subscribed, waited)
        em.publish(k, ch, "acked", qos=1)
        assert em.connected and errors == [], (subscribed, errors)
    wait_for(em, lambda: got, "the message back")
    close(em)


def case_packet_id_wraps_at_65535(env):
    """MQTT packet ids end at 65535 (the client keeps its own counter): the broker acks 65535,
    then 1. 65,535 real QoS 1 publishes take ~16 ms each here (17 min), so the counter is set."""
    env = as_env(env)
    k = env.keys["test"]
    ch = "test/%s/pid/" % uid(env, "r")
    got = []
    watcher = client(env)
    watcher.subscribe(k, ch, handler=got.append)
    em = client(env)
    em._pid = 65534
    em.publish(k, ch, "x", qos=1)  # returns once its PUBACK (id 65535) is in
    assert em._pid == 65535
    em.publish(k, ch, "y", qos=1)
    assert em._pid == 1
    em.subscribe(k, ch)
    assert em._pid == 2
    wait_for([watcher, em], lambda: len(got) >= 2, "both publishes")
    assert payloads(got) == [b"x", b"y"] and em.connected, payloads(got)
    close(watcher, em)


def case_no_call_blocks_on_a_silent_link(env):
    """The link goes silent (every byte dropped, nothing closed): a subscribe and a QoS 1 publish
    each give up with an OSError within the timeout, reconnect off."""
    env = as_env(env)
    k = env.keys["test"]
    ch = "test/%s/silent/" % uid(env, "r")
    for call in (lambda em: em.subscribe(k, ch), lambda em: em.publish(k, ch, "x", qos=1)):
        em = emitter_micro.Emitter(_via_proxy(env, timeout=0.5)).connect()
        try:
            toxic(env, "timeout", "upstream", timeout=0)
            toxic(env, "timeout", "downstream", timeout=0)
            t0 = time.ticks_ms()
            raises(OSError, call, em)
            took = time.ticks_diff(time.ticks_ms(), t0)
            print("gave up on a silent link after %d ms (timeout 500)" % took)
            assert not em.connected and took < 3000, took
        finally:
            untoxic(env)
            close(em)


def case_reconnect_off_raises(env):
    """reconnect off: a refused connect raises, and so do publish() and loop() while down."""
    env = as_env(env)
    downs = []
    proxy_enabled(env, False)  # the broker unreachable
    try:
        em = emitter_micro.Emitter(_via_proxy(env))
        em.on("disconnect", lambda: downs.append(1))
        e = raises(OSError, em.connect)
        print("connect with the broker unreachable: %r" % (e,))
        raises(OSError, em.publish, env.keys["test"], "test/a/", "x")
        raises(OSError, em.publish, env.keys["test"], "test/a/", "x", qos=1)
        proxy_enabled(env, True)
        em.connect()
        assert em.connected and downs == []
        proxy_enabled(env, False)  # the live link is cut
        raises(OSError, wait_for, em, lambda: False, "the cut link to raise", 3000)
        assert not em.connected and downs == [1], downs
        e = raises(OSError, em.loop)
        assert e.args[0] == 107, e.args  # ENOTCONN
        raises(OSError, em.publish, env.keys["test"], "test/a/", "x")
        assert downs == [1]
    finally:
        proxy_enabled(env, True)


def case_resubscribe_refused_after_keyban(env):
    """The key of a subscription is banned while the link is down: on reconnect the broker refuses
    that resubscribe (401); the error event says so, the client connects without it and keeps the
    others; connect and disconnect events alternate."""
    env = as_env(env)
    ch = "test/%s/ban/" % uid(env, "r")
    keep = "test/%s/keep/" % uid(env, "r")
    admin = client(env)
    kb = admin.keygen(env.secret, ch, "rw", timeout_ms=5000)["key"]
    events, errors, banned_got, kept_got = [], [], [], []
    dev = emitter_micro.Emitter(_via_proxy(env, reconnect=True, backoff_ms=(50, 200)))
    dev.on("connect", lambda: events.append("connect"))
    dev.on("disconnect", lambda: events.append("disconnect"))
    dev.on("error", errors.append)
    dev.connect()
    dev.subscribe(kb, ch, handler=banned_got.append)
    dev.subscribe(env.keys["test"], keep, handler=kept_got.append)
    try:
        proxy_enabled(env, False)
        wait_for([dev, admin], lambda: "disconnect" in events, "the cut link")
        assert admin.keyban(env.secret, kb, True, timeout_ms=5000)["banned"] is True
        del errors[:]
        proxy_enabled(env, True)
        wait_for([dev, admin], lambda: events.count("connect") >= 2, "the reconnect")
        assert events == ["connect", "disconnect", "connect"], events
        refused = [e for e in errors if e.get("status") == 401]
        assert refused, errors
        admin.publish(env.keys["test"], keep, "kept", qos=1)
        wait_for([dev, admin], lambda: kept_got, "a message on the subscription that was kept")
        settle([dev, admin], 200)
        assert banned_got == [] and payloads(kept_got) == [b"kept"], (payloads(banned_got), payloads(kept_got))
    finally:
        proxy_enabled(env, True)
        admin.keyban(env.secret, kb, False, timeout_ms=5000)
        close(dev, admin)


def case_failover_moves_to_next_host(env):
    """A host list: a refused host is skipped, and a lost link moves on to the next host."""
    env = as_env(env)
    hosts = ["%s:%d" % (env.host, env.refused_port), "%s:%d" % (env.host, env.proxy_port), env.host]  # the last on "port"
    errors, ups = [], []
    em = emitter_micro.Emitter(options(env, host=hosts, reconnect=True, backoff_ms=(20, 80)))
    em.on("error", lambda e: errors.append(e["message"]))
    em.on("connect", lambda: ups.append(1))
    try:
        em.connect()
        wait_for(em, lambda: em.connected, "a connection to the second host")
        assert len(errors) == 1 and hosts[0] in errors[0] and "connect" in errors[0], errors
        proxy_enabled(env, False)  # the second host goes away: the next is the broker itself
        wait_for(em, lambda: len(ups) >= 2, "a connection to the third host")
        assert len(errors) == 2 and hosts[1] in errors[1] and "lost" in errors[1], errors
        got = []
        em.subscribe(env.keys["test"], "test/%s/fo/" % uid(env, "r"), handler=got.append)
        em.publish(env.keys["test"], "test/%s/fo/" % uid(env, "r"), "via the third", qos=1)
        wait_for(em, lambda: got, "a round trip on the third host")
    finally:
        proxy_enabled(env, True)
        close(em)
