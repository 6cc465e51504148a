"""Every rogue-peer scenario (rogue_scenarios/test_*.py: what no broker sends), under the real
MicroPython unix port per umqtt version, under the frozen 32-bit build, and under the lwIP build
(runtimes.names()). On lwIP the scenario's bytes cross the TAP link: the rogue peer's relay mode
(rogue_relay.py, one relay per session on netns.HOST); test_rogue_relay.py proves that mode where
no lwIP build is needed. The broker cases run in the features'
test_<feature>_broker.py."""
import pytest

import netns
import rogue_relay
import runtimes

CASES = [(rt, mod, fn) for rt in runtimes.names() for mod, fn in runtimes.discover()]


def test_scenarios_exist():
    assert runtimes.discover(), "no `def test_xxx():` found in %s/test_*.py" % runtimes.SCENARIOS


@pytest.mark.parametrize("runtime,module,function", CASES, ids=["%s-%s.%s" % (runtimes.runtime_id(r), m, f) for r, m, f in CASES])
def test_unix_port(micropython, runtime, module, function):
    env = None
    if runtime == runtimes.LWIP32:
        # In-process, lwIP would carry nothing: the bytes go client socket -> relay -> peer socket and back.
        env = {"ROGUE_RELAY": rogue_relay.serve(netns.HOST).address}
    result = runtimes.run_scenario(module, function, runtime, env=env)
    if not result.ok:
        pytest.fail(result.report(), pytrace=False)
