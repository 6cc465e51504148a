"""emitter_micro compiled with mpy-cross, and the smoke cases run from the .mpy against the real broker.

The smoke cases are the `def case_smoke_xxx(env):` of <feature>/bs_*.py, run under the
unix port (support/run_case.py) with the .mpy build first on MICROPYPATH and no .py
source of emitter_micro on it; run_case.py checks (EXPECT_MPY=1) that every emitter_micro module
it loaded came from a .mpy file. Per umqtt version.
"""
import json
import os
import re
import subprocess
import uuid

import pytest

import runtimes
from broker_harness import CASE_MODULES, RUN_CASE, VERSIONS, case_dir, case_path

_SMOKE_DEF = re.compile(r"^def (case_smoke\w*)\s*\(\s*env\s*\)\s*:", re.M)
SMOKE = [(path.stem, name) for path in sorted(case_dir(m) / (m + ".py") for m in CASE_MODULES if m.startswith("bs_"))
         for name in _SMOKE_DEF.findall(path.read_text(encoding="utf-8"))]


def test_mpy_build(mpy_build):
    assert mpy_build.files, "mpy-cross produced nothing"
    for rel, size in mpy_build.files:
        assert size > 0, rel
        assert (mpy_build.dir / rel).is_file(), rel
    print("\n".join("%6d %s" % (size, rel) for rel, size in mpy_build.files))
    print("%6d total" % sum(size for _rel, size in mpy_build.files))


def test_smoke_cases_exist():
    assert SMOKE, "no `def case_smoke...(env):` in host_tests/<feature>/bs_*.py"


CASES = [(v, m, f) for v in VERSIONS for m, f in SMOKE]


@pytest.mark.parametrize("version,module,function", CASES, ids=["umqtt%s-%s.%s" % c for c in CASES])
def test_smoke_from_mpy(micropython, mpy_build, broker, version, module, function):
    env = {"host": broker.host, "port": broker.port, "run": uuid.uuid4().hex[:10],
           "secret": broker.secret, "keys": {"test": broker.test_key}}
    umqtt_dir = runtimes.umqtt_versions()[version]
    full = dict(os.environ, BS_ENV=json.dumps(env), EXPECT_MPY="1",
                MICROPYPATH=":".join([".frozen", str(mpy_build.dir), str(umqtt_dir)] + case_path(module)))
    cmd = [micropython, str(RUN_CASE), module, function]
    proc = subprocess.run(cmd, cwd=str(runtimes.REPO), env=full, capture_output=True, text=True, timeout=120)
    lines = proc.stdout.strip().splitlines()
    report = "command: %s\nMICROPYPATH=%s\nexit: %s\n%s\n%s" % (" ".join(cmd), full["MICROPYPATH"],
                                                              proc.returncode, proc.stdout, proc.stderr)
    assert proc.returncode == 0 and lines and lines[-1] == "PASS", report
    assert "from %s" % mpy_build.dir in proc.stdout, report  # the modules' files, printed by run_case.py
