# Runs one real-broker scenario function under the MicroPython unix port.
# usage: BS_ENV='{"host": ...}' micropython host_tests/support/run_case.py MODULE FUNCTION
# MICROPYPATH must hold emitter_micro (the repo, or a .mpy build), the umqtt folder and this folder.
# EXPECT_MPY=1: afterwards, every emitter_micro module loaded must have come from a .mpy file;
# EXPECT_FROZEN=1: emitter_micro (and umqtt.simple, where the case loaded it) from the firmware (the frozen build).
# Prints PASS as the last line on success; otherwise FAIL and the traceback, exit 1.
import json
import os
import sys


def check_mpy():
    names = [n for n in sys.modules if n == "emitter_micro" or n.startswith("emitter_micro.")]
    assert names, "emitter_micro was never imported"
    for n in names:
        f = getattr(sys.modules[n], "__file__", None)
        print("module", n, "from", f)
        if f is None or not f.endswith(".mpy"):
            raise AssertionError("%s imported from %s, not from .mpy" % (n, f))


def check_frozen():
    """EXPECT_FROZEN=1: emitter_micro and umqtt.simple (the sync client's; the asyncio one never loads it) must
    come from the firmware, none from a file."""
    names = [n for n in sys.modules if n.split(".")[0] == "emitter_micro" or n == "umqtt.simple"]
    assert "emitter_micro" in names, names
    assert "umqtt.simple" in names or "emitter_micro.client" not in names, names
    for n in names:
        f = getattr(sys.modules[n], "__file__", None)
        print("module", n, "from", f)
        # A frozen module's __file__ is its path inside the firmware (no folder); a file's is a path on disk.
        if f is None or f.startswith("/") or f.endswith(".mpy"):
            raise AssertionError("%s imported from %s, not from the firmware" % (n, f))


def main():
    mod_name, fn_name = sys.argv[1], sys.argv[2]
    raw = os.getenv("BS_ENV")
    if not raw:
        print("FAIL: no BS_ENV in the environment (JSON made by host_tests/support/broker_cases.py)")
        sys.exit(2)
    try:
        from bs_util import Env
        env = Env(json.loads(raw))
        mod = __import__(mod_name)
        getattr(mod, fn_name)(env)
        if os.getenv("EXPECT_MPY") == "1":
            check_mpy()
        if os.getenv("EXPECT_FROZEN") == "1":
            check_frozen()
    except BaseException as e:  # noqa: B902 - report anything, incl. SystemExit
        print("FAIL %s.%s" % (mod_name, fn_name))
        sys.print_exception(e, sys.stdout)
        sys.exit(1)
    print("PASS")


main()
