"""A network namespace of this process's own, with TAP devices for the lwIP build (tests, bench, demo).

`enter()` moves the calling process (and every thread and child it starts afterwards) into a new,
unnamed network namespace: loopback up, a bridge `br0` with HOST on it, and TAP devices `tap0..`
enslaved to it, one per lwIP device that may run at once. An lwIP device (the `lwip32` build) attaches
to the first free TAP and takes DEVICE_BASE + its index as address. Every address any test uses then
stays inside that namespace, and the kernel removes all of it when the process exits, however it
exits (no named namespace to clean up).

Where it cannot be made (not root, no /dev/net/tun), `enter()` returns the reason and the process
stays where it was: HOST is then 127.0.0.1 and the lwIP tests fail with that reason.
"""
import ctypes
import os
import subprocess

_CLONE_NEWNET = 0x40000000
_TAPS = 4
BRIDGE_HOST = "10.99.0.1"  # the namespace's side of the link: broker, Toxiproxy and peers listen here
NETMASK = "255.255.255.0"
DEVICE_BASE = "10.99.0.10"  # tapN's device is 10.99.0.(10+N)

HOST = "127.0.0.1"  # where servers listen and clients dial: BRIDGE_HOST once inside
LISTEN_ALL = "127.0.0.1"  # what a server binds to be reached both as HOST and as localhost
active = False
reason = None  # why the namespace could not be made


def _ip(*args):
    p = subprocess.run(["ip"] + list(args), capture_output=True, text=True)
    if p.returncode:
        raise OSError("`ip %s` failed: %s" % (" ".join(args), (p.stderr or p.stdout).strip()))


def enter():
    """Enter a fresh namespace (once per process); None when inside, else the reason it could not be made."""
    global active, reason, HOST, LISTEN_ALL
    if active or reason:
        return reason
    if os.geteuid() != 0:
        reason = "making a network namespace with a TAP device needs root (uid %d)" % os.geteuid()
        return reason
    if not os.path.exists("/dev/net/tun"):
        reason = "no /dev/net/tun: TAP devices cannot be made here"
        return reason
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(_CLONE_NEWNET) != 0:
        reason = "unshare(CLONE_NEWNET) failed: %s" % os.strerror(ctypes.get_errno())
        return reason
    try:
        _ip("link", "set", "lo", "up")
        _ip("link", "add", "br0", "type", "bridge")
        _ip("addr", "add", BRIDGE_HOST + "/24", "dev", "br0")
        _ip("link", "set", "br0", "up")
        for i in range(_TAPS):
            _ip("tuntap", "add", "dev", "tap%d" % i, "mode", "tap")
            _ip("link", "set", "tap%d" % i, "master", "br0")
            _ip("link", "set", "tap%d" % i, "up")
    except OSError as e:
        reason = str(e)
        return reason
    active = True
    HOST = BRIDGE_HOST
    LISTEN_ALL = "0.0.0.0"  # only this namespace's loopback and bridge: nothing outside can reach it
    os.environ["EMITTER_MICRO_NETNS"] = BRIDGE_HOST  # for children that want to know
    serve_dns()
    return None


def device_env(joined=True):
    """The environment an lwIP device (the lwip32 build) needs to attach to the first free TAP device;
    joined: its WiFi is up from the start, as after a board's boot.py (a board app joins by itself)."""
    return {"LWIP_TAP": ",".join("tap%d" % i for i in range(_TAPS)), "LWIP_IP": DEVICE_BASE,
            "LWIP_NETMASK": NETMASK, "LWIP_GW": BRIDGE_HOST, "LWIP_DNS": BRIDGE_HOST,
            "LWIP_JOINED": "1" if joined else "0"}


# --- a DNS server for the namespace: what the lwIP devices resolve names with ---------------------
NAMES = {"broker.test": BRIDGE_HOST}  # the broker's name inside the namespace (its certificate has it too)
dns_queries = []  # (name, answered) per query, for tests that check a lookup went out


def _dns_answer(query):
    """The reply to one DNS query: an A record for a name in NAMES, NXDOMAIN for any other."""
    import struct
    qid, flags, qd = struct.unpack("!HHH", query[:6])
    i, labels = 12, []
    while query[i]:
        labels.append(query[i + 1:i + 1 + query[i]].decode("ascii", "replace"))
        i += 1 + query[i]
    question = query[12:i + 5]
    name = ".".join(labels).lower()
    addr = NAMES.get(name)
    dns_queries.append((name, addr is not None))
    head = struct.pack("!HHHHHH", qid, 0x8180 if addr else 0x8183, 1, 1 if addr else 0, 0, 0)
    if not addr:
        return head + question
    answer = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + bytes(int(p) for p in addr.split("."))
    return head + question + answer


def serve_dns():
    """Answer DNS on BRIDGE_HOST:53 from a daemon thread (inside the namespace only)."""
    import socket
    import threading
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((BRIDGE_HOST, 53))

    def run():
        while True:
            data, peer = s.recvfrom(512)
            try:
                s.sendto(_dns_answer(data), peer)
            except (IndexError, ValueError, OSError):
                pass  # a malformed query gets no answer, as from a real server

    threading.Thread(target=run, daemon=True, name="netns-dns").start()


_refusing = None


def refused_port():
    """A port on HOST that refuses connections (bound, never listening), held for the process's life."""
    global _refusing
    if _refusing is None:
        import socket
        _refusing = socket.socket()
        _refusing.bind((HOST, 0))
    return _refusing.getsockname()[1]
