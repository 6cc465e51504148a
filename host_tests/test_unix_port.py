"""Every rogue-peer scenario (rogue_scenarios/test_*.py: what no broker sends), under the real
MicroPython unix port, per umqtt version. The broker cases run in test_real_broker.py."""
import pytest

import mp

CASES = [(ver, mod, fn) for ver in sorted(mp.umqtt_versions()) for mod, fn in mp.discover()]


def test_scenarios_exist():
    assert mp.discover(), "no `def test_xxx():` found in %s/test_*.py" % mp.SCENARIOS


@pytest.mark.parametrize("version,module,function", CASES,
                         ids=["umqtt%s-%s.%s" % c for c in CASES])
def test_unix_port(micropython, version, module, function):
    folder = mp.umqtt_versions()[version]
    problem = mp.check_umqtt_dir(folder)
    if problem:
        pytest.fail(problem, pytrace=False)
    result = mp.run_scenario(module, function, folder)
    if not result.ok:
        pytest.fail(result.report(), pytrace=False)
