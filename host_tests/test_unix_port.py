"""Every rogue-peer scenario (rogue_scenarios/test_*.py: what no broker sends), under the real
MicroPython unix port per umqtt version, and under the frozen 32-bit build (runtimes.names()).
The broker cases run in test_real_broker.py."""
import pytest

import runtimes

CASES = [(rt, mod, fn) for rt in runtimes.names() for mod, fn in runtimes.discover()]


def test_scenarios_exist():
    assert runtimes.discover(), "no `def test_xxx():` found in %s/test_*.py" % runtimes.SCENARIOS


@pytest.mark.parametrize("runtime,module,function", CASES, ids=["%s-%s.%s" % (runtimes.runtime_id(r), m, f) for r, m, f in CASES])
def test_unix_port(micropython, runtime, module, function):
    result = runtimes.run_scenario(module, function, runtime)
    if not result.ok:
        pytest.fail(result.report(), pytrace=False)
