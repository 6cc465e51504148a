"""Link faults over real loopback TCP (issue "Resilience"), on both runtimes: a half-open link
through tools/tcpproxy.py, a connection reset, a peer that answers garbage.

The far end is peers.PeerServer, a scripted MQTT peer (not a broker); the same
faults against the real broker are in test_real_broker*.py (skipped while the
broker cannot be had). Detection and reconnect times are printed (pytest -s).
"""
import importlib.util
import json
import os
import subprocess

import pytest

import mp
from peers import PeerServer

_spec = importlib.util.spec_from_file_location("tcpproxy", mp.HOST_TESTS / "tools" / "tcpproxy.py")
tcpproxy = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tcpproxy)


def _unix(*args):
    env = dict(os.environ, MICROPYPATH=mp.micropypath(mp.UMQTT134))
    p = subprocess.run([mp.micropython_cmd(), str(mp.HOST_TESTS / "link_faults_client.py")] + [str(a) for a in args],
                       env=env, capture_output=True, text=True, timeout=60, cwd=str(mp.REPO))
    lines = [l for l in p.stdout.splitlines() if l.startswith("RESULT ")]
    assert lines, p.stdout + p.stderr
    return json.loads(lines[-1][7:])


def _cpython(*args):
    import link_faults_client
    return link_faults_client.run(*args)


RUNTIMES = {"unix_port": _unix, "cpython": _cpython}


@pytest.fixture(params=sorted(RUNTIMES))
def run(request, umqtt_env):
    return RUNTIMES[request.param]


def _check(out, kind):
    ev = out["events"]
    assert out["detect_ms"] is not None and out["reconnect_ms"] is not None, out
    assert ev.count("connect") >= 2 and "disconnect" in ev, out
    assert "while down" in ev and ev[-1] == "after" and out["pending"] == 0, out  # nothing lost
    print("%s: detected in %d ms, reconnected %d ms later" % (kind, out["detect_ms"], out["reconnect_ms"]))


def test_half_open_link_detected_within_keepalive_plus_timeout(run):
    server = PeerServer()
    proxy = tcpproxy.TcpProxy(("127.0.0.1", server.port)).start()
    try:
        out = run("halfopen", proxy.port, proxy.control_port)
    finally:
        proxy.stop()
        server.close()
    _check(out, "half-open")
    assert out["detect_ms"] <= (2 + 1) * 1000 + 500  # keepalive 2 s + timeout 1 s (+ loop granularity)


def test_loop_waits_up_to_timeout_and_returns_on_traffic(run):
    server = PeerServer()
    try:
        out = run("wait", server.port)
    finally:
        server.close()
    assert 250 <= out["idle_ms"] < 1000, out
    assert out["busy_ms"] < 1000 and out["dispatched"] == 1 and "echo" in out["events"], out


def test_connection_reset(run):
    server = PeerServer(reset_after=3)  # CONNECT, SUBSCRIBE, PUBLISH: then an RST
    try:
        out = run("reset", server.port)
    finally:
        server.close()
    _check(out, "reset")


def test_garbage_from_peer(run):
    server = PeerServer(garbage=b"\x30\xff\xff\xff\x7f\x00\x05junk!" + bytes(range(256)))
    try:
        out = run("garbage", server.port)
    finally:
        server.close()
    assert out["detect_ms"] is not None and "after" in out["events"], out
    print("garbage: link dropped in %d ms, reconnected %s ms later" % (out["detect_ms"], out["reconnect_ms"]))


def test_queue_growth_bounded_in_a_small_heap(micropython, tmp_path):
    """Broker down (a refused port) while 2,000 readings are published in a 64 KB heap:
    the queue stays within its bounds (oldest dropped and counted), no MemoryError."""
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now: every connection attempt is refused
    code = """
import gc, time, emitter_micro
em = emitter_micro.Emitter({"host": "127.0.0.1", "port": %d, "secure": False, "timeout": 1,
                            "backoff_ms": (10, 40), "queue_size": 50, "queue_bytes": 4096})
errors = []
em.on("error", lambda e: errors.append(1))
em.connect()
for seq in range(2000):
    em.publish("KEY-heap", "devices/x/telemetry/", {"seq": seq, "uptime_ms": time.ticks_ms(), "temp_c": 21.5}, qos=1)
    em.loop(0)
gc.collect()
print("RESULT", em.pending(), em.dropped, len(errors) > 0, gc.mem_free())
""" % port
    env = dict(os.environ, MICROPYPATH=mp.micropypath(mp.UMQTT134))
    p = subprocess.run([micropython, "-X", "heapsize=65536", "-c", code], env=env, capture_output=True, text=True,
                       timeout=120, cwd=str(tmp_path))
    assert p.returncode == 0 and "RESULT" in p.stdout, p.stdout + p.stderr
    pending, dropped, reported, free = p.stdout.split("RESULT")[1].split()
    assert int(pending) <= 50 and int(dropped) >= 1950 and reported == "True", p.stdout
    print(p.stdout.strip())
