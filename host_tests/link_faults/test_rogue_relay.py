"""The rogue peer's relay mode (rogue_relay.py: ROGUE_RELAY=host:port, the scenario's bytes over real
sockets through a relay on netns.HOST), proved where no lwIP build is needed: every scenario under
the unix port with umqtt 1.8 and in-process under CPython (the shim's sockets). test_rogue_runtimes.py
runs them in this mode on the lwIP build."""
import importlib

import pytest

import netns
import rogue_relay
import runtimes

SCENARIOS = runtimes.discover()
IDS = ["%s.%s" % s for s in SCENARIOS]


@pytest.fixture(scope="module")
def relay():
    return rogue_relay.serve(netns.HOST)


@pytest.mark.parametrize("module,function", SCENARIOS, ids=IDS)
def test_relay_unix_port(micropython, relay, module, function):
    pairs = relay.pairs
    result = runtimes.run_scenario(module, function, "18", env={"ROGUE_RELAY": relay.address})
    if not result.ok:
        pytest.fail(result.report(), pytrace=False)
    assert relay.pairs > pairs, "no connection went through the relay"


@pytest.mark.parametrize("module,function", SCENARIOS, ids=IDS)
def test_relay_cpython(monkeypatch, relay, module, function):
    monkeypatch.setenv("ROGUE_RELAY", relay.address)
    pairs = relay.pairs
    getattr(importlib.import_module(module), function)()
    assert relay.pairs > pairs, "no connection went through the relay"
