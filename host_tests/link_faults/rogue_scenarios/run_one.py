# Runs one scenario function under the MicroPython unix port.
# usage: micropython host_tests/link_faults/rogue_scenarios/run_one.py MODULE FUNCTION [--expect-mpy]   (MODULE from host_tests/link_faults/rogue_scenarios)
# Prints PASS as the last line on success; otherwise the traceback, exit 1.
import sys


def _expect_mpy():
    if "--expect-mpy" in sys.argv:
        return True
    try:
        import os
        return os.getenv("EXPECT_MPY") == "1"
    except (ImportError, AttributeError):
        return False


def _check_mpy():
    # Every loaded emitter_micro module must come from a .mpy file.
    names = [n for n in sys.modules if n == "emitter_micro" or n.startswith("emitter_micro.")]
    if not names:
        import emitter_micro
        names = ["emitter_micro"]
    for n in names:
        f = getattr(sys.modules[n], "__file__", None)
        print("module", n, "from", f)
        if f is not None and not f.endswith(".mpy"):
            raise AssertionError("%s imported from %s, not from .mpy" % (n, f))
    if all(getattr(sys.modules[n], "__file__", None) is None for n in names):
        raise AssertionError("no emitter_micro module has a __file__ to check")


def _check_frozen():
    # EXPECT_FROZEN=1: emitter_micro and umqtt.simple come from the firmware (no folder in __file__).
    import os
    if os.getenv("EXPECT_FROZEN") != "1":
        return
    import emitter_micro  # noqa: F401
    import umqtt.simple  # noqa: F401
    for n in [n for n in sys.modules if n.split(".")[0] == "emitter_micro" or n == "umqtt.simple"]:
        f = getattr(sys.modules[n], "__file__", None)
        if f is None or f.startswith("/") or f.endswith(".mpy"):
            raise AssertionError("%s imported from %s, not from the firmware" % (n, f))


def main():
    mod_name, fn_name = sys.argv[1], sys.argv[2]
    try:
        mod = __import__(mod_name)
        getattr(mod, fn_name)()
        if _expect_mpy():
            _check_mpy()
        _check_frozen()
    except BaseException as e:  # noqa: B902 - report anything, incl. SystemExit
        print("FAIL %s.%s" % (mod_name, fn_name))
        sys.print_exception(e, sys.stdout)
        sys.exit(1)
    print("PASS")


main()
