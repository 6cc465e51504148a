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


def meet_gateway(env):
    """lwip32: talk to the broker's host once before the case, as a board has talked to its network (DHCP,
    DNS) before its app connects. A fresh lwIP stack's first packet waits for ARP in a queue of one
    (ARP_QUEUEING 0, as on rp2), and the kernel hands it, with the ARP answer, what it held for this
    address: the broker's retransmissions to an earlier process's connection. lwIP answers each with a
    RST, which takes the queued packet's place; were that a case's SYN, it would go again only after lwIP's
    3 s initial RTO, past the short timeouts some cases connect with (docs/lwip.md). Best effort: a case
    whose network is not there says so itself."""
    import socket
    if getattr(socket, "__name__", "") != "lwip":
        return
    host = env.get("host") or (env.get("hosts") or [""])[0].partition(":")[0]
    if not host:
        return
    import time
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.sendto(b"\0", socket.getaddrinfo(host, 9)[0][-1])  # UDP discard: the host answers ICMP at most
        finally:
            s.close()
    except OSError:
        return
    time.sleep_ms(100)  # lwIP runs while the VM sleeps: the ARP answer, the RSTs


def main():
    mod_name, fn_name = sys.argv[1], sys.argv[2]
    raw = os.getenv("BS_ENV")
    if not raw:
        print("FAIL: no BS_ENV in the environment (JSON made by host_tests/support/broker_cases.py)")
        sys.exit(2)
    try:
        from bs_util import Env
        env = Env(json.loads(raw))
        meet_gateway(env)
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
