"""Resilience against the real broker (both runtimes).

case_*: run by the generic driver; they reach the broker through the test's
TCP proxy (env.proxy_port) and steer it through env.proxy_control_port.
device_telemetry: the device side of the kill/restart, down-at-boot and
cluster-failover tests in test_real_broker_resilience.py (the host kills brokers meanwhile).
"""
import time

import emitter_micro
from bs_util import as_env, client, close, options, proxy_command, raises, uid, wait_for


def _via_proxy(env, **extra):
    o = options(env, port=env.proxy_port)
    o.update(extra)
    return o


def case_request_timeout_on_silent_link(env):
    """A request that gets no answer at all: OSError 110 within timeout_ms (+ the socket timeout)."""
    env = as_env(env)
    em = emitter_micro.Emitter(_via_proxy(env, timeout=1)).connect()
    try:
        assert em.me(timeout_ms=5000)["status"] == 200  # through the proxy, it works
        proxy_command(env, "pause")
        t0 = time.ticks_ms()
        e = raises(OSError, em.me, 1500)
        took = time.ticks_diff(time.ticks_ms(), t0)
        print("request on a silent link: OSError %r after %d ms" % (e.args[0], took))
        assert e.args[0] == 110, e.args
        assert took < 1500 + 1000 + 500, took
    finally:
        proxy_command(env, "resume")
        close(em)


def case_half_open_detected_then_reconnect(env):
    """keepalive 2 s, timeout 1 s: a link that goes silent is found dead within 3 s (+ loop slack)."""
    env = as_env(env)
    k = env.keys["test"]
    ch = "test/%s/halfopen/" % uid(env, "r")
    ups, downs, got = [], [], []
    dev = emitter_micro.Emitter(_via_proxy(env, keepalive=2, timeout=1, reconnect=True, backoff_ms=(100, 500)))
    dev.on("connect", lambda: ups.append(time.ticks_ms()))
    dev.on("disconnect", lambda: downs.append(time.ticks_ms()))
    dev.connect()
    assert dev.connected and len(ups) == 1
    dev.subscribe(k, ch, handler=got.append)
    other = client(env)
    try:
        proxy_command(env, "pause")
        t0 = time.ticks_ms()
        wait_for(dev, lambda: downs, "half-open link detected", ms=2000 + 1000 + 3000)
        detect = time.ticks_diff(downs[0], t0)
        print("half-open link detected after %d ms (keepalive 2000 + timeout 1000)" % detect)
        assert detect <= 2000 + 1000 + 700, detect
        proxy_command(env, "resume")
        t1 = time.ticks_ms()
        wait_for(dev, lambda: len(ups) >= 2, "reconnect after the link came back", ms=5000)
        print("reconnected %d ms after the link came back" % time.ticks_diff(ups[1], t1))
        # Resubscribed by the client: a message from another client arrives.
        other.publish(k, ch, "after", qos=1)
        wait_for([dev, other], lambda: got, "message after reconnect")
        assert got[0].binary == b"after"
    finally:
        try:
            proxy_command(env, "resume")
        except Exception:
            pass
        close(dev, other)


def device_telemetry(env):
    """Publish env.count readings {"seq": n} at QoS 1 every env.interval_ms, through outages; then flush.

    env: hosts (list of "host:port"), key, channel, count, interval_ms, ttl (0: none), flush_ms,
    defaults (true: the client's default options, but host and secure).
    Prints `EVENT connect|disconnect TICKS` lines for the host to time, and `SENT n DROPPED d`.
    """
    env = as_env(env)
    o = {"host": env.hosts, "secure": False}
    if not env.get("defaults"):
        # Fast recovery and room for every reading (64 B per queued entry beyond its payload).
        o.update(keepalive=5, timeout=2, backoff_ms=(100, 1000), queue_bytes=96 * (env.count + 10))
    em = emitter_micro.Emitter(o)
    em.on("connect", lambda: print("EVENT connect %d" % time.ticks_ms()))
    em.on("disconnect", lambda: print("EVENT disconnect %d" % time.ticks_ms()))
    em.on("error", lambda e: print("EVENT error %r" % (e,)))
    em.connect()
    ttl = env.ttl or None
    seq = most = 0
    due = time.ticks_ms()
    while seq < env.count:
        now = time.ticks_ms()
        if time.ticks_diff(now, due) >= 0:
            seq += 1
            em.publish(env.key, env.channel, {"seq": seq}, qos=1, ttl=ttl)
            due = time.ticks_add(now, env.interval_ms)
        em.loop(max(0, min(50, time.ticks_diff(due, time.ticks_ms()))))
        most = max(most, em.pending())
    ok = em.flush(env.flush_ms)
    print("SENT %d DROPPED %d PENDING %d MOST_QUEUED %d" % (seq, em.dropped, em.pending(), most))
    assert ok, "queue not flushed within %d ms: %d pending" % (env.flush_ms, em.pending())
    assert em.dropped == 0, "dropped %d" % em.dropped
    em.disconnect()
