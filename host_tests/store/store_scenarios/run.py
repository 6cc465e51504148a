# Runs store cases under a MicroPython runtime: micropython run.py MODULE [FUNCTION ...]
# (MODULE from this folder; no FUNCTION: every `test_*` in it). Prints "store from <file>", then
# "PASS name" or "FAIL name" and the traceback per case; the last line is "N passed, M failed".
# STORE_EXPECT=mpy: the store must come from a .mpy file.
import os
import sys


def main():
    mod = __import__(sys.argv[1])
    names = sys.argv[2:] or sorted(n for n in dir(mod) if n.startswith("test_"))
    import store
    where = getattr(store, "__file__", "")
    print("store from", where, "on", os.getenv("STORE_FS") or "posix")
    if os.getenv("STORE_EXPECT") == "mpy" and not where.endswith(".mpy"):
        print("FAIL the store came from %s, not a .mpy" % where)
        sys.exit(1)
    passed = failed = 0
    for n in names:
        try:
            getattr(mod, n)()
        except BaseException as e:  # noqa: B902 - report anything and go on
            failed += 1
            print("FAIL", n)
            sys.print_exception(e, sys.stdout)
            continue
        passed += 1
        print("PASS", n)
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


main()
