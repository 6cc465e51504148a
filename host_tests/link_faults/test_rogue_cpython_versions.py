"""The scenarios under CPython for every umqtt version other than the in-process one.

The in-process run (ids `scenarios/test_*.py::...`) uses $EMITTER_MICRO_UMQTT,
default umqtt 1.3.4; each other version runs here in a subprocess pytest.
"""
import os
import subprocess
import sys

import pytest

import runtimes

IN_PROCESS = runtimes.default_umqtt_dir()
OTHERS = {v: d for v, d in runtimes.umqtt_versions().items() if d.resolve() != IN_PROCESS}
PARAMS = [pytest.param(v, id="umqtt" + v) for v in sorted(OTHERS)]
if "18" not in runtimes.umqtt_versions():
    PARAMS.append(pytest.param("18", id="umqtt18", marks=pytest.mark.skip(
        reason="umqtt.simple 1.8 not available: set UMQTT18_DIR (folder holding umqtt/simple.py)")))


@pytest.mark.parametrize("version", PARAMS)
def test_scenarios_under_cpython(version):
    folder = OTHERS[version]
    problem = runtimes.check_umqtt_dir(folder)
    if problem:
        pytest.fail(problem, pytrace=False)
    env = dict(os.environ, EMITTER_MICRO_UMQTT=str(folder))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
         "--rootdir", str(runtimes.REPO), str(runtimes.SCENARIOS)],
        cwd=str(runtimes.REPO), env=env, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        pytest.fail("scenarios with umqtt %s (%s): pytest exit %s\n%s\n%s"
                    % (version, folder, proc.returncode, proc.stdout, proc.stderr),
                    pytrace=False)
