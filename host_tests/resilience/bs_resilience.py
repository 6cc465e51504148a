"""Resilience against the real broker (both runtimes).

case_*: run by the generic driver; they reach the broker through the test's
Toxiproxy proxy (env.proxy_port) and put link faults on it through its HTTP API
(bs_util.toxic/untoxic): a half-open link, a reset, torn packets, a slow WiFi
link, a link cut after N bytes. Detection and reconnect times are printed (pytest -s).
device_telemetry: the device side of the kill/restart, down-at-boot and
cluster-failover tests in test_real_broker_resilience.py (the host kills brokers meanwhile).
"""
import json
import time

import emitter_micro
from bs_util import (as_env, client, close, options, payloads, raises, set_toxicity, settle, toxic, uid, untoxic,
                     wait_for)


def _via_proxy(env, **extra):
    o = options(env, port=env.proxy_port)
    o.update(extra)
    return o


def _ms(t0, t1=None):
    return time.ticks_diff(time.ticks_ms() if t1 is None else t1, t0)


class _Dev:
    """A reconnecting client through the proxy that records when it connects and drops, and why."""

    def __init__(self, env, **extra):
        o = _via_proxy(env, reconnect=True, backoff_ms=(100, 400))
        o.update(extra)
        self.ups, self.downs, self.errors = [], [], []
        em = self.em = emitter_micro.Emitter(o)
        em.on("connect", lambda: self.ups.append(time.ticks_ms()))
        em.on("disconnect", lambda: self.downs.append(time.ticks_ms()))
        em.on("error", lambda e: self.errors.append(e["message"]))
        em.connect()
        assert em.connected and len(self.ups) == 1, "not connected through the proxy: %r" % self.errors


def _silence(env):
    """Toxiproxy `timeout` with timeout 0, both ways: every byte dropped, the connections held open."""
    toxic(env, "timeout", "upstream", timeout=0)
    toxic(env, "timeout", "downstream", timeout=0)


def case_request_timeout_on_silent_link(env):
    """A request that gets no answer at all: OSError 110 within timeout_ms (+ the socket timeout),
    with reconnect off (the link's read times out) and on (attempts to reconnect meanwhile hang too)."""
    env = as_env(env)
    for reconnect in (False, True):
        em = emitter_micro.Emitter(_via_proxy(env, timeout=1, reconnect=reconnect, backoff_ms=(100, 400))).connect()
        try:
            assert em.me(timeout_ms=5000)["status"] == 200  # through the proxy, it works
            _silence(env)
            t0 = time.ticks_ms()
            e = raises(OSError, em.me, 1500)
            took = _ms(t0)
            print("request on a silent link (reconnect %s): OSError %r after %d ms" % (reconnect, e.args[0], took))
            assert e.args[0] == 110, e.args
            assert took < 1500 + 1000 + 1000, took
        finally:
            untoxic(env)
            close(em)


def case_half_open_detected_then_reconnect(env):
    """keepalive 2 s, timeout 1 s: a link gone silent both ways (nothing closed) is found dead within
    keepalive + timeout by the unanswered ping; while it stays silent no attempt succeeds; once it is
    back the client reconnects by itself, resubscribes, and what it queued meanwhile goes out."""
    env = as_env(env)
    k = env.keys["test"]
    ch = "test/%s/halfopen/" % uid(env, "r")
    got, seen = [], []
    d = _Dev(env, keepalive=2, timeout=1)
    dev = d.em
    dev.subscribe(k, ch, handler=got.append)
    other = client(env)
    other.subscribe(k, ch, handler=seen.append)
    try:
        _silence(env)
        t0 = time.ticks_ms()
        wait_for([dev, other], lambda: d.downs, "half-open link detected", ms=2000 + 1000 + 5000)
        detect = _ms(t0, d.downs[0])
        print("half-open: detected after %d ms (keepalive 2000 + timeout 1000): %s" % (detect, d.errors[0]))
        assert "110" in d.errors[0], d.errors  # the unanswered ping (ETIMEDOUT), not a close
        assert detect <= 2000 + 1000 + 2000, detect
        dev.publish(k, ch, "while down", qos=1)  # queued, not raised
        settle([dev, other], 1500)  # attempts meanwhile: the CONNECT goes nowhere
        assert len(d.ups) == 1 and dev.pending() == 1, (d.ups, dev.pending(), d.errors)
        untoxic(env)
        t1 = time.ticks_ms()
        wait_for([dev, other], lambda: len(d.ups) >= 2, "reconnect after the link came back", ms=8000)
        print("half-open: reconnected %d ms after the link came back" % _ms(t1, d.ups[1]))
        assert dev.flush(5000), dev.pending()
        # Resubscribed by the client: a message from another client arrives.
        other.publish(k, ch, "after", qos=1)
        wait_for([dev, other], lambda: b"after" in payloads(got), "message after reconnect")
        wait_for([dev, other], lambda: b"while down" in payloads(seen), "the publish queued while down")
    finally:
        untoxic(env)
        close(dev, other)


def case_reset_peer_detected_then_reconnect(env):
    """A connection reset (Toxiproxy reset_peer: an RST both ways) is found at once; the client
    reconnects and no QoS 1 publish is lost: the one that met the reset and one made while down
    are queued and sent, in order."""
    env = as_env(env)
    k = env.keys["test"]
    ch = "test/%s/reset/" % uid(env, "r")
    # reset_peer makes a close an RST (SO_LINGER 0) only on connections made while it is on the proxy:
    # armed harmless (toxicity 0) before the device connects, raised to 1 when the reset is due.
    name = toxic(env, "reset_peer", "upstream", toxicity=0.0, timeout=0)
    seen = []
    other = client(env)
    other.subscribe(k, ch, handler=seen.append)
    d = _Dev(env, keepalive=5, timeout=2)
    dev = d.em
    try:
        dev.publish(k, ch, "before", qos=1)
        set_toxicity(env, name, 1.0)  # the next bytes from the device meet the reset
        t0 = time.ticks_ms()
        dev.publish(k, ch, "one", qos=1)  # queued, not raised
        wait_for(dev, lambda: d.downs, "reset detected", ms=3000)
        detect = _ms(t0, d.downs[0])
        print("reset: detected after %d ms: %s" % (detect, d.errors[0]))
        assert "104" in d.errors[0], d.errors  # ECONNRESET
        untoxic(env, name)
        dev.publish(k, ch, "two", qos=1)  # made while down: queued
        t1 = time.ticks_ms()
        wait_for(dev, lambda: len(d.ups) >= 2, "reconnect after the reset", ms=5000)
        print("reset: reconnected %d ms later" % _ms(t1, d.ups[1]))
        assert dev.flush(5000), dev.pending()
        want = [b"before", b"one", b"two"]
        wait_for([dev, other], lambda: len(seen) >= 3, "the three QoS 1 publishes")
        settle([dev, other], 200)
        assert payloads(seen) == want, payloads(seen)
    finally:
        untoxic(env)
        close(dev, other)


def case_torn_packets_slicer(env):
    """Every packet torn into pieces of ~8 bytes with a pause between them, both ways (Toxiproxy
    slicer): connect, subscribe, publishes, received messages and a request all work, and payloads
    arrive intact, a 10 KB one included."""
    env = as_env(env)
    k = env.keys["test"]
    ch = "test/%s/torn/" % uid(env, "r")
    toxic(env, "slicer", "upstream", average_size=8, size_variation=4, delay=200)
    toxic(env, "slicer", "downstream", average_size=8, size_variation=4, delay=200)
    got, seen = [], []
    other = client(env)
    other.subscribe(k, ch, handler=seen.append)
    d = _Dev(env, keepalive=10, timeout=5)
    dev = d.em
    try:
        dev.subscribe(k, ch, handler=got.append)
        big = bytes((i * 7 + 3) & 0xFF for i in range(10 * 1024))
        theirs = b"from other " + big[:3000]
        t0 = time.ticks_ms()
        dev.publish(k, ch, "small")
        dev.publish(k, ch, big, qos=1)
        other.publish(k, ch, theirs, qos=1)
        answer = dev.me(timeout_ms=10000)
        assert answer["status"] == 200 or "id" in answer, answer
        wait_for([dev, other], lambda: len(got) >= 3 and len(seen) >= 3, "the torn messages", ms=15000)
        print("torn packets: 3 messages (10 KB among them) and a request through in %d ms" % _ms(t0))
        assert payloads(got) == [b"small", big, theirs], [len(p) for p in payloads(got)]
        assert payloads(seen) == [b"small", big, theirs], [len(p) for p in payloads(seen)]
        assert not d.downs, d.errors
    finally:
        untoxic(env)
        close(dev, other)


def case_slow_wifi(env):
    """A slow WiFi link (Toxiproxy: 100 +- 30 ms latency and 5 KB/s, each way) from the boot on:
    connect, subscribe, a QoS 1 publish, a message from another client and a request all complete,
    each within the socket timeout (no call blocks for good)."""
    env = as_env(env)
    k = env.keys["test"]
    ch = "test/%s/wifi/" % uid(env, "r")
    for stream in ("upstream", "downstream"):
        toxic(env, "latency", stream, latency=100, jitter=30)
        toxic(env, "bandwidth", stream, rate=5)
    got = []
    other = client(env)
    times = {}
    t0 = time.ticks_ms()
    d = _Dev(env, keepalive=10, timeout=5)
    dev = d.em
    times["connect"] = _ms(t0)
    try:
        t0 = time.ticks_ms()
        dev.subscribe(k, ch, handler=got.append)
        times["subscribe"] = _ms(t0)
        reading = json.dumps({"seq": 1, "temp_c": 21.5, "pad": "x" * 900})
        t0 = time.ticks_ms()
        dev.publish(k, ch, reading, qos=1)
        times["publish 1 KB qos1"] = _ms(t0)
        t0 = time.ticks_ms()
        wait_for(dev, lambda: got, "the echo of our publish", ms=10000)
        times["echo back"] = _ms(t0)
        t0 = time.ticks_ms()
        other.publish(k, ch, "hello", qos=1)
        wait_for([dev, other], lambda: len(got) >= 2, "a message from another client", ms=10000)
        times["message from other"] = _ms(t0)
        t0 = time.ticks_ms()
        answer = dev.me(timeout_ms=10000)
        times["request me"] = _ms(t0)
        print("slow wifi (100+-30 ms, 5 KB/s): %s" % ", ".join("%s %d ms" % kv for kv in sorted(times.items())))
        assert answer["status"] == 200 or "id" in answer, answer
        assert payloads(got) == [reading.encode(), b"hello"], payloads(got)
        assert not d.downs, d.errors
        for what in ("connect", "subscribe", "publish 1 KB qos1", "request me"):
            assert times[what] < 5000 + 2000, (what, times)
    finally:
        untoxic(env)
        close(dev, other)


def case_limit_data_cut_then_reconnect(env):
    """The link cut after 600 bytes from the device (Toxiproxy limit_data, mid-packet): found at once,
    reconnected, and every one of 40 QoS 1 readings made before, across and after the cut arrives
    (counted by a subscriber on the broker directly)."""
    env = as_env(env)
    k = env.keys["test"]
    ch = "test/%s/limit/" % uid(env, "r")
    seqs = []
    other = client(env)
    other.subscribe(k, ch, handler=lambda m: seqs.append(json.loads(m.binary)["seq"]))
    d = _Dev(env, keepalive=5, timeout=2)
    dev = d.em
    count = 40
    try:
        name = toxic(env, "limit_data", "upstream", bytes=600)
        t0 = time.ticks_ms()
        cut_at = None
        for seq in range(1, count + 1):
            dev.publish(k, ch, {"seq": seq}, qos=1)
            dev.loop(10)
            other.loop(0)
            if d.downs and cut_at is None:
                cut_at = seq
                untoxic(env, name)
        assert cut_at, "the link was never cut: %r" % d.errors
        detect = _ms(t0, d.downs[0])
        wait_for([dev, other], lambda: len(d.ups) >= 2, "reconnect after the cut", ms=5000)
        print("limit_data: cut found at reading %d, %d ms in (%s); reconnected %d ms later"
              % (cut_at, detect, d.errors[0], _ms(d.downs[0], d.ups[1])))
        assert dev.flush(10000), dev.pending()
        wait_for([dev, other], lambda: len(set(seqs)) >= count, "all %d readings" % count, ms=10000)
        assert sorted(set(seqs)) == list(range(1, count + 1)), seqs
        print("limit_data: %d readings, %d duplicates" % (count, len(seqs) - len(set(seqs))))
    finally:
        untoxic(env)
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
