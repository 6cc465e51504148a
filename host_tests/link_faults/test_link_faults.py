"""Link faults over real loopback TCP, on both runtimes (CPython through the shim, the unix port) and both
umqtt versions.

The faults a network makes go through Toxiproxy (host_tests/support/toxiproxy.py) in front of the real broker:
half-open (timeout 0), reset (reset_peer), torn packets (slicer), a slow WiFi link (latency +
bandwidth), a link cut after N bytes (limit_data), a request on a silent link. Those are the
bs_resilience.py cases, run by resilience/test_resilience_broker.py. Here: what no broker sends (garbage, from the
scripted peer in peers.py), loop()'s wait on the real broker, the queue bound in a small heap, and
that the Toxiproxy toxics those cases rely on do what they say on a plain socket.
Times are printed (pytest -s).
"""
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import netns
import runtimes
import shim
from peers import PeerServer

HERE = Path(__file__).resolve().parent  # link_faults_client.py
pytest_plugins = ["toxiproxy"]  # toxiproxy_server: one Toxiproxy for the session


def _unix(umqtt_dir, *args):
    env = dict(os.environ, MICROPYPATH=runtimes.micropypath(umqtt_dir))
    return _device(runtimes.micropython_cmd(), env, args)


def _lwip(umqtt_dir, *args):
    """The lwIP build (umqtt.simple 1.8 frozen) over the namespace's TAP link."""
    exe, path, extra = runtimes.launch(runtimes.LWIP32)
    env = dict(os.environ, MICROPYPATH=":".join(path + [str(runtimes.SUPPORT)]), **extra)
    return _device(exe, env, args)


def _device(exe, env, args):
    p = subprocess.run([exe, str(HERE / "link_faults_client.py")] + [str(a) for a in args],
                       env=env, capture_output=True, text=True, timeout=60, cwd=str(runtimes.REPO))
    lines = [l for l in p.stdout.splitlines() if l.startswith("RESULT ")]
    assert lines, p.stdout + p.stderr
    return json.loads(lines[-1][7:])


def _cpython(umqtt_dir, *args):
    sys.modules.pop("link_faults_client", None)  # bound to the emitter_micro just imported
    import link_faults_client
    return link_faults_client.run(*args)


RUNTIMES = {"unix_port": _unix, "cpython": _cpython, "lwip32": _lwip}


# (runtime, umqtt version): lwip32 has umqtt.simple 1.8 frozen in.
PARAMS = [(rt, v) for rt in ("cpython", "unix_port") for v in sorted(runtimes.umqtt_versions())] + [("lwip32", "18")]


@pytest.fixture(params=PARAMS, ids=["%s-umqtt%s" % p for p in PARAMS])
def run(request):
    kind, version = request.param
    if kind == "unix_port" and runtimes.micropython_cmd() is None:
        pytest.fail("`micropython` not found beside %s" % sys.executable, pytrace=False)
    folder = runtimes.umqtt_versions()[version]
    if kind == "cpython":
        shim.import_fresh(folder)  # umqtt.simple and emitter_micro of this version, in-process
    yield lambda case, *args: RUNTIMES[kind](folder, case, netns.HOST, *args)
    if kind == "cpython":
        shim.import_fresh(runtimes.default_umqtt_dir(), with_emitter=False)
        shim._purge(("emitter_micro",))


def test_loop_waits_up_to_timeout_and_returns_on_traffic(run, broker):
    """The real broker: loop(300) with nothing coming waits it out; loop(2000) returns with the echo."""
    out = run("wait", broker.port, broker.test_key, "test/lf%s/wait/" % os.urandom(4).hex())
    assert 250 <= out["idle_ms"] < 1000, json.dumps(out)  # in full: pytest cuts a dict short
    assert out["busy_ms"] < 1000 and out["dispatched"] == 1 and "echo" in out["events"], out
    print("loop(300) idle: %d ms; loop(2000) with an echo due: back in %d ms" % (out["idle_ms"], out["busy_ms"]))


def test_garbage_from_peer(run):
    """No broker sends garbage: a scripted peer does, after the first CONNACK. The link is dropped with
    an error event, the client reconnects, and the QoS 1 publish made while down goes out."""
    server = PeerServer(garbage=b"\x30\xff\xff\xff\x7f\x00\x05junk!" + bytes(range(256)))
    try:
        out = run("garbage", server.port, "KEY-faults", "t/")
    finally:
        server.close()
    ev = out["events"]
    assert out["detect_ms"] is not None and out["reconnect_ms"] is not None, out
    # The garbage claims a 256 MB packet: refused by its length, never allocated. Where the first attempt
    # gets no CONNACK in time (a slow first connect), the garbage comes while the reconnect
    # resubscribes: then it is that connect that failed.
    said = [e for e in ev if "packet of 268435455 bytes" in e]
    assert said and said[0].startswith(("error link to %s lost" % netns.HOST,
                                        "error connect to %s failed" % netns.HOST)), ev
    assert ev.count("connect") >= 2 and "disconnect" in ev, ev
    assert "while down" in ev and ev[-1] == "after" and out["pending"] == 0, ev  # nothing lost
    print("garbage: link dropped in %d ms, reconnected %d ms later" % (out["detect_ms"], out["reconnect_ms"]))


def test_queue_growth_bounded_in_a_small_heap(tmp_path):
    """Broker down (a refused port) while 2,000 readings are published on the frozen 32-bit build in a
    24 KB heap, a board's word size and code in flash: the queue stays within its bounds (oldest dropped
    and counted), no MemoryError."""
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
    exe, path, _ = runtimes.launch(runtimes.FROZEN32)
    env = dict(os.environ, MICROPYPATH=":".join(path))
    p = subprocess.run([exe, "-X", "heapsize=24576", "-c", code], env=env, capture_output=True, text=True,
                       timeout=120, cwd=str(tmp_path))
    assert p.returncode == 0 and "RESULT" in p.stdout, p.stdout + p.stderr
    pending, dropped, reported, free = p.stdout.split("RESULT")[1].split()
    assert int(pending) <= 50 and int(dropped) >= 1950 and reported == "True", p.stdout
    print(p.stdout.strip())


# --- the fault proxy itself, on plain sockets -----------------------------------------
class _Echo:
    """A TCP echo server on loopback: the upstream for the plumbing test."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(c,), daemon=True).start()

    @staticmethod
    def _echo(c):
        with c:
            while True:
                try:
                    data = c.recv(4096)
                    if not data:
                        return
                    c.sendall(data)
                except OSError:
                    return

    def close(self):
        self.sock.close()


def _recv_all(s, n):
    """(bytes, number of recv() calls): up to n bytes, until EOF or n."""
    got, calls = b"", 0
    while len(got) < n:
        b = s.recv(n - len(got))
        calls += 1
        if not b:
            break
        got += b
    return got, calls


def test_toxics_do_what_the_cases_rely_on(toxiproxy_server):
    """timeout 0 holds the link open and silent; slicer tears; limit_data cuts after N bytes;
    reset_peer armed at toxicity 0 before the connection and raised to 1 resets it (an RST)."""
    echo = _Echo()
    p = toxiproxy_server.proxy(echo.port, "127.0.0.1")
    conns = []

    def conn():
        c = socket.create_connection((p.host, p.port), timeout=3)
        conns.append(c)
        c.sendall(b"hello")
        assert _recv_all(c, 5)[0] == b"hello"  # relayed
        return c

    try:
        a = conn()
        p.add("timeout", "downstream", timeout=0)
        a.sendall(b"silent")
        a.settimeout(0.7)
        with pytest.raises(socket.timeout):
            a.recv(16)  # nothing comes, and nothing closes
        p.remove("timeout_downstream")

        b = conn()
        p.add("slicer", "downstream", average_size=4, size_variation=1, delay=20000)
        data = bytes(range(64))
        b.sendall(data)
        got, calls = _recv_all(b, len(data))
        assert got == data and calls >= 4, (got, calls)  # torn into pieces, intact
        p.remove("slicer_downstream")

        c = conn()
        p.add("limit_data", "downstream", bytes=10)
        c.sendall(bytes(64))
        got, _ = _recv_all(c, 64)
        assert got == bytes(10), got  # 10 bytes through, then closed
        p.remove("limit_data_downstream")

        p.add("reset_peer", "upstream", toxicity=0.0, timeout=0)
        d = conn()  # made while reset_peer is on the proxy: its close will be an RST
        p.update("reset_peer_upstream", toxicity=1.0)
        d.sendall(b"x")
        with pytest.raises(ConnectionResetError):
            _recv_all(d, 1)
    finally:
        for c in conns:
            c.close()
        p.clear()
        p.delete()
        echo.close()
