"""The shared runner of the real-broker cases (`def case_xxx(env):` in host_tests/<feature>/bs_*.py).

A pytest plugin: a feature's test module says
    pytest_plugins = ["toxiproxy", "broker_cases"]
    test_cpython, test_unix_port = broker_cases.tests("bs_offline", "bs_resilience")
and gets, for every case of those modules,
(a) test_cpython: in-process under CPython (the shim's real sockets), per umqtt version, and
(b) test_unix_port: under every MicroPython runtime (runtimes.names(): the PyPI unix port per umqtt
    version, frozen32, lwip32; support/run_case.py, env as JSON in $BS_ENV) -- except modules marked
    CPYTHON_ONLY.
The fixtures `base_env` (keys made through the broker's own emitter/keygen/) and `proxy` (a fresh
Toxiproxy proxy in front of the broker) and make_env() are here too.
"""
import json
import re
import ssl
import uuid

import pytest

import netns
import runtimes
from broker_harness import CASE_MODULES, RUNTIMES, case_dir, run_in_cpython, run_in_unix_port

_CASE_DEF = re.compile(r"^def (case_\w+)\s*\(\s*env\s*\)\s*:", re.M)
_CPYTHON_ONLY = re.compile(r"^CPYTHON_ONLY\s*=\s*True", re.M)


def broker_modules():
    """Every bs_*.py case module (all features), by name."""
    return sorted(m for m in CASE_MODULES if m.startswith("bs_"))


def cases(*modules):
    """[(module, function, cpython_only)] for every case_xxx(env) in the named case modules
    (default: every bs_*.py of every feature)."""
    found = []
    for module in modules or broker_modules():
        text = (case_dir(module) / (module + ".py")).read_text(encoding="utf-8")
        only = bool(_CPYTHON_ONLY.search(text))
        for name in _CASE_DEF.findall(text):
            found.append((module, name, only))
    return found


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
    """A fresh Toxiproxy proxy in front of the broker (support/toxiproxy.py); toxics cleared after."""
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


# --- the real broker: every case of the given modules, every runtime ------------------------
def tests(*modules):
    """(test_cpython, test_unix_port): the two parametrized tests over the cases of `modules`."""
    found = cases(*modules)
    assert found, "no `def case_xxx(env):` in %s" % (modules,)
    cpy_cases = [(m, f) for m, f, _ in found]
    mp_cases = [(rt, m, f) for rt in RUNTIMES for m, f, only in found if not only]

    @pytest.mark.parametrize("module,function", cpy_cases, ids=["%s.%s" % c for c in cpy_cases])
    def test_cpython(broker, base_env, proxy, umqtt_env, module, function):
        run_in_cpython(module, function, make_env(broker, base_env, proxy))

    @pytest.mark.parametrize("version,module,function", mp_cases,
                             ids=["%s-%s.%s" % (runtimes.runtime_id(r), m, f) for r, m, f in mp_cases])
    def test_unix_port(broker, base_env, proxy, micropython, version, module, function):
        env = make_env(broker, base_env, proxy)
        if version == runtimes.LWIP32:
            env["tls_host"] = "broker.test"  # lwIP resolves it through the namespace's DNS (tools/netns.py)
        ok, report = run_in_unix_port(module, function, env, version)
        print(report)
        if not ok:
            pytest.fail(report, pytrace=False)

    return test_cpython, test_unix_port
