"""emitter_micro against the REAL Emitter broker: the resilience runs (issue 4).

The broker killed and restarted in a 500-message QoS 1 loop, the broker down
at boot, two-node cluster failover: the device (bs_resilience.device_telemetry)
runs under the MicroPython unix port, per umqtt version, while these tests
start, kill and relaunch their own brokers.  The half-open link through a TCP
proxy is a scenario case (bs_resilience.py), run by test_resilience_broker.py.

Everything skips, with go's exact error, when the broker cannot be had
(see tools/broker.py; EMITTER_BIN=/path/to/emitter to use one).
"""
import json
import time
import uuid

import pytest

import broker as broker_mod
import runtimes
from broker_harness import RUNTIMES, VERSIONS, Device, Subscriber, paho_publish


# --- helpers ------------------------------------------------------------------
def _telemetry_env(hosts, key, channel, count, interval_ms, ttl):
    return {"hosts": hosts, "key": key, "channel": channel, "count": count,
            "interval_ms": interval_ms, "ttl": ttl, "flush_ms": 60000}


def _first_after(times, t):
    later = [x for x in times if x >= t]
    return later[0] - t if later else None


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: "umqtt" + v)
def test_broker_killed_and_restarted_mid_telemetry(emitter_bin, micropython, tmp_path, version):
    """500 QoS 1 readings from the unix port; the broker is SIGKILLed at ~150 and back 1 s later."""
    count = 500
    b = broker_mod.Broker(emitter_bin, tmp_path / "broker").start()
    sub = dev = None
    try:
        key = b.keygen("devices/#/", "rwslp")
        ch = "devices/%s/telemetry/" % uuid.uuid4().hex[:8]
        # Stored (ttl) and replayed with last=N on resubscribe: what the broker took while the
        # subscriber was still reconnecting is not lost to it.
        sub = Subscriber(b.host, b.port, key, ch, last=count + 100).start()
        assert sub.wait_connected(10), "subscriber did not connect"
        dev = Device("bs_resilience", "device_telemetry",
                     _telemetry_env(["%s:%d" % (b.host, b.port)], key, ch, count, 10, 600),
                     version)
        assert sub.wait(lambda: len(set(sub.seqs)) >= 150 or not dev.running(), 60), \
            "only %d readings before the kill\n%s" % (sub.unique(), dev.report())
        assert dev.running(), "device ended before the kill:\n" + dev.report()
        at_kill = sub.unique()
        b.kill()
        t_kill = time.monotonic()
        time.sleep(1.0)
        b.launch()
        t_up = time.monotonic()
        assert dev.wait(180), dev.report()
        sub.wait(lambda: len(set(sub.seqs)) >= count, 20)
        missing, dups = sub.summary(count)
        print("killed at %d readings; device reconnected %s s after the restart; subscriber %s s; "
              "received %d (%d duplicates), missing %d"
              % (at_kill, _first_after(dev.events("connect"), t_up),
                 _first_after(sub.connects, t_up), len(sub.seqs), dups, len(missing)))
        print("device down for %.2f s" % (t_up - t_kill))
        assert not missing, "lost readings %s\n%s" % (missing[:50], dev.report())
    finally:
        if dev is not None:
            dev.stop()
        if sub is not None:
            sub.stop()
        b.stop()


@pytest.mark.parametrize("version", RUNTIMES, ids=runtimes.runtime_id)
def test_default_options_ride_out_a_10s_broker_outage(emitter_bin, micropython, tmp_path, version):
    """QoS 1 readings at 5/s with the client's default options; the broker is stopped for 10 s, then
    started again: nothing is dropped from the default (byte-bounded) queue and every reading arrives."""
    count, interval_ms, outage_s = 150, 200, 10.0
    b = broker_mod.Broker(emitter_bin, tmp_path / "broker").start()
    sub = dev = None
    try:
        key = b.keygen("devices/#/", "rwslp")
        ch = "devices/%s/telemetry/" % uuid.uuid4().hex[:8]
        # The broker keeps no sessions: what the device drains before the subscriber is back is
        # stored (ttl) and replayed to it (last=N) when it resubscribes.
        sub = Subscriber(b.host, b.port, key, ch, last=count + 10).start()
        assert sub.wait_connected(10), "subscriber did not connect"
        env = _telemetry_env(["%s:%d" % (b.host, b.port)], key, ch, count, interval_ms, 600)
        env["defaults"] = True
        dev = Device("bs_resilience", "device_telemetry", env, version)
        assert sub.wait(lambda: sub.unique() >= 25 or not dev.running(), 30), dev.report()
        assert dev.running(), "device ended before the outage:\n" + dev.report()
        b.stop()
        t_down = time.monotonic()
        time.sleep(outage_s)
        b.launch()
        t_up = time.monotonic()
        assert dev.wait(180), dev.report()
        sub.wait(lambda: sub.unique() >= count, 30)
        missing, dups = sub.summary(count)
        done = [line for _, line in dev.lines if line.startswith("SENT")]
        print("outage %.1f s; device reconnected %s s after the broker was back; subscriber %s s; %s; "
              "received %d (%d duplicates), missing %d"
              % (t_up - t_down, _first_after(dev.events("connect"), t_up), _first_after(sub.connects, t_up),
                 done, len(sub.seqs), dups, len(missing)))
        assert done and " DROPPED 0 " in done[0], dev.report()
        assert not missing, "lost readings %s\n%s" % (missing[:50], dev.report())
    finally:
        if dev is not None:
            dev.stop()
        if sub is not None:
            sub.stop()
        b.stop()


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: "umqtt" + v)
def test_broker_down_at_boot(emitter_bin, micropython, tmp_path, version):
    """The device boots with the broker down; the broker comes up 3 s later; the queued readings arrive."""
    count = 20
    b = broker_mod.Broker(emitter_bin, tmp_path / "broker").start()
    sub = dev = None
    try:
        key = b.keygen("devices/#/", "rwslp")  # the key outlives the process: same license
        b.stop()
        ch = "devices/%s/telemetry/" % uuid.uuid4().hex[:8]
        sub = Subscriber(b.host, b.port, key, ch, last=count + 10).start()
        dev = Device("bs_resilience", "device_telemetry",
                     _telemetry_env(["%s:%d" % (b.host, b.port)], key, ch, count, 250, 600),
                     version)
        time.sleep(3.0)
        assert dev.running(), "device ended while the broker was down:\n" + dev.report()
        b.launch()
        t_up = time.monotonic()
        assert dev.wait(120), dev.report()
        sub.wait(lambda: len(set(sub.seqs)) >= count, 20)
        missing, dups = sub.summary(count)
        print("device connected %s s after the broker came up; received %d (%d duplicates)"
              % (_first_after(dev.events("connect"), t_up), len(sub.seqs), dups))
        assert not missing, "lost readings %s\n%s" % (missing, dev.report())
    finally:
        if dev is not None:
            dev.stop()
        if sub is not None:
            sub.stop()
        b.stop()


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: "umqtt" + v)
def test_cluster_failover(emitter_bin, micropython, tmp_path, version):
    """Two nodes, one license; the device's host list fails over when node 1 dies; nothing lost."""
    count = 300
    n1 = broker_mod.Broker(emitter_bin, tmp_path / "n1", cluster_name="00:00:00:00:00:01").start()
    n2 = None
    sub = dev = None
    try:
        n2 = broker_mod.Broker(emitter_bin, tmp_path / "n2", cluster_name="00:00:00:00:00:02",
                               seed=n1.cluster_address, license=n1.license, secret=n1.secret)
        n2.prepare().launch()
        key = n1.keygen("devices/#/", "rwslp")
        ch = "devices/%s/telemetry/" % uuid.uuid4().hex[:8]
        sub = Subscriber(n2.host, n2.port, key, ch).start()
        assert sub.wait_connected(10), "subscriber on node 2 did not connect"
        # The cluster has formed once a publish on node 1 reaches node 2's subscriber.
        end = time.monotonic() + 60
        while not sub.probes:
            assert time.monotonic() < end, "node 2 never got node 1's messages: no cluster\n%s\n%s" % (
                n1.log()[-3000:], n2.log()[-3000:])
            paho_publish(n1.host, n1.port, "%s/%s" % (key, ch), json.dumps({"probe": 1}))
            sub.wait(lambda: sub.probes > 0, 1)
        dev = Device("bs_resilience", "device_telemetry",
                     _telemetry_env(["%s:%d" % (n1.host, n1.port), "%s:%d" % (n2.host, n2.port)], key, ch,
                                    count, 10, 0),
                     version)
        assert sub.wait(lambda: len(set(sub.seqs)) >= 100 or not dev.running(), 60), dev.report()
        assert dev.running(), "device ended before the failover:\n" + dev.report()
        n1.kill()
        t_kill = time.monotonic()
        assert dev.wait(180), dev.report()
        sub.wait(lambda: len(set(sub.seqs)) >= count, 20)
        missing, dups = sub.summary(count)
        print("failover: device on node 2 %s s after node 1 died; received %d (%d duplicates)"
              % (_first_after(dev.events("connect"), t_kill), len(sub.seqs), dups))
        assert not missing, "lost readings %s\n%s" % (missing[:50], dev.report())
    finally:
        if dev is not None:
            dev.stop()
        if sub is not None:
            sub.stop()
        if n2 is not None:
            n2.stop()
        n1.stop()
