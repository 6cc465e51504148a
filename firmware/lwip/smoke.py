"""Smoke test of the lwip32 build end to end; exits non-zero on any failure. Needs root (it makes
a network namespace; every address it uses stays inside it, and it removes everything it made).

    sudo python3 firmware/lwip/smoke.py [--bin PATH]    # default: tools/firmware.py lwip32 (builds it)

Inside a fresh namespace: tap0 (10.99.0.1/24 on the Linux side) and a helper process serving a TCP
echo (:7777), a TLS echo with a self-signed certificate (:7778) and DNS (:53; echo.test -> 10.99.0.1,
NXDOMAIN for other names). The device (the lwip32 binary with LWIP_IP=10.99.0.2) runs DEVICE below:
`socket` is lwIP's and the only one, WLAN joins, 20 KB echoed with short writes and select.poll,
100 connect/close cycles leave no PCB behind, ssl, DNS answers / NXDOMAIN / no server at all,
lwIP driven during time.sleep, a busy loop and asyncio sleeping, and the WiFi hook: SIGUSR1 drops
the link (no frame moves, connect() cannot rejoin), SIGUSR2 + connect() restores it and the same
TCP connection goes on.
"""
import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NS = "lwip32-smoke-%d" % os.getpid()
ENV = {"LWIP_TAP": "tap0", "LWIP_IP": "10.99.0.2", "LWIP_NETMASK": "255.255.255.0", "LWIP_GW": "10.99.0.1",
       "MICROPYPATH": ".frozen"}
TIMEOUT_S = 120

HELPER = r'''
import socket, ssl, struct, sys, threading
HOST = "10.99.0.1"

def echo(conn):
    with conn:
        while True:
            try:
                d = conn.recv(65536)
            except (OSError, ssl.SSLError):
                return
            if not d:
                return
            conn.sendall(d)

def serve(port, wrap=None):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((HOST, port))
    srv.listen(32)
    while True:
        c, _ = srv.accept()
        if wrap:
            try:
                c = wrap(c)
            except (OSError, ssl.SSLError):
                c.close()
                continue
        threading.Thread(target=echo, args=(c,), daemon=True).start()

def dns():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((HOST, 53))
    while True:
        q, addr = s.recvfrom(512)
        i, labels = 12, []
        while q[i]:
            labels.append(q[i + 1:i + 1 + q[i]].decode())
            i += 1 + q[i]
        qtype = struct.unpack(">H", q[i + 1:i + 3])[0]
        question = q[12:i + 5]
        name = ".".join(labels)
        if name != "echo.test":
            s.sendto(q[:2] + b"\x81\x83\x00\x01\x00\x00\x00\x00\x00\x00" + question, addr)  # NXDOMAIN
        elif qtype == 1:
            answer = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + socket.inet_aton(HOST)
            s.sendto(q[:2] + b"\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00" + question + answer, addr)
        else:
            s.sendto(q[:2] + b"\x81\x80\x00\x01\x00\x00\x00\x00\x00\x00" + question, addr)  # no such record

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
threading.Thread(target=serve, args=(7777,), daemon=True).start()
threading.Thread(target=serve, args=(7778, lambda c: ctx.wrap_socket(c, server_side=True)), daemon=True).start()
threading.Thread(target=dns, daemon=True).start()
print("ready", flush=True)
sys.stdin.read()
'''

DEVICE = r'''
import gc, select, socket, sys, time
import lwiptap, network

def ok(what, *detail):
    print("ok:", what, *detail)

def wait(cond, ms):
    end = time.ticks_add(time.ticks_ms(), ms)
    while not cond():
        if time.ticks_diff(end, time.ticks_ms()) <= 0:
            return False
        time.sleep_ms(5)
    return True

ECHO = ("10.99.0.1", 7777)

def connect(addr=ECHO):
    s = socket.socket()
    s.connect(socket.getaddrinfo(addr[0], addr[1])[0][-1])
    return s

def read_until(s, end, ms=2000):
    got = b""
    p = select.poll()
    p.register(s, select.POLLIN)
    while not got.endswith(end) and p.poll(ms):
        r = s.recv(64)  # a blocking read(64) would wait for all 64 bytes
        if not r:
            break
        got += r
    return got

def echo_once(s, data, ms=2000):
    s.write(data)
    return read_until(s, data, ms)

# socket is lwIP's, and there is no other.
assert str(socket) == "<module 'lwip'>", socket
for name in ("usocket", "_socket"):
    try:
        m = __import__(name)
        assert str(m) == "<module 'lwip'>", (name, m)
    except ImportError:
        pass
ok("socket is", socket)
import emitter_micro
assert emitter_micro.__file__ == "emitter_micro/__init__.py", emitter_micro.__file__
ok("frozen emitter_micro", emitter_micro.__file__)
import ssl
assert hasattr(ssl, "SSLContext")
ok("import ssl", ssl.SSLContext)

# WiFi join: not yet connected right after connect(), connected a little later.
w = network.WLAN(network.STA_IF)
w.active(True)
s = socket.socket()
try:
    s.connect(ECHO)
    raise AssertionError("connected before the WiFi joined")
except OSError as e:
    ok("before join, connect() fails", e)
s.close()
t = time.ticks_ms()
w.connect("x", "y")
assert not w.isconnected() and w.status() == network.STAT_CONNECTING, w.status()
assert wait(w.isconnected, 2000), w.status()
assert w.status() == network.STAT_GOT_IP
ok("joined in", time.ticks_diff(time.ticks_ms(), t), "ms", w.ifconfig())

# 20 KB through a non-blocking socket, echoed back, with select.poll.
s = connect()
s.setblocking(False)
data = bytes(i * 7 & 0xFF for i in range(20000))
sent, writes, got = 0, [], bytearray()
p = select.poll()
p.register(s, select.POLLIN | select.POLLOUT)
t = time.ticks_ms()
while len(got) < len(data):
    ready = p.poll(2000)
    assert ready, "stalled at %d sent, %d back" % (sent, len(got))
    for obj, ev in ready:
        if ev & select.POLLOUT and sent < len(data):
            n = s.write(data[sent:])
            if n:
                writes.append(n)
                sent += n
            if sent == len(data):
                p.modify(s, select.POLLIN)
        if ev & select.POLLIN:
            r = s.read(4096)
            assert r, "EOF"
            got += r
assert got == data
assert any(n < 20000 - sum(writes[:i]) for i, n in enumerate(writes)), writes
ok("20 KB echoed in", time.ticks_diff(time.ticks_ms(), t), "ms; writes", writes)
s.close()

# 100 connect/close cycles leave no PCB behind.
base = lwiptap.stats()
for i in range(100):
    s = connect()
    assert echo_once(s, b"x%d" % i) == b"x%d" % i
    s.close()
assert wait(lambda: lwiptap.stats()["tcp_active"] == 0, 3000), lwiptap.stats()
gc.collect()  # nothing should be left for a socket's finaliser to free
st = lwiptap.stats()
pools = st["pools"]
assert st["tcp_listen"] == 0 and st["tcp_bound"] == 0, st
assert pools["TCP_PCB"][0] == st["tcp_tw"] <= 5, st          # only TIME-WAIT ones, recycled by lwIP
assert pools["TCP_SEG"][0] == 0 and pools["PBUF_POOL"][0] == 0 and pools["PBUF"][0] == 0, st
assert st["mem_used"] <= base["mem_used"] and st["mem_err"] == 0, (base, st)
s = connect()
assert echo_once(s, b"after") == b"after"
s.close()
ok("100 cycles, no leak:", {k: st[k] for k in ("tcp_active", "tcp_tw", "udp", "mem_used")}, "pools", pools)

# TLS over lwIP.
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.verify_mode = ssl.CERT_NONE
s = ctx.wrap_socket(connect(("10.99.0.1", 7778)), server_hostname="echo.test")
s.write(b"hello tls")
assert s.read(9) == b"hello tls"
s.close()
ok("TLS echo over lwIP")

# DNS through lwIP over the TAP link.
t = time.ticks_ms()
addr = socket.getaddrinfo("echo.test", 7777)[0][-1]
s = socket.socket()
s.connect(addr)
assert echo_once(s, b"dns") == b"dns"
s.close()
ok("getaddrinfo echo.test", addr, time.ticks_diff(time.ticks_ms(), t), "ms")
for name, silent in (("nx.test", False), ("silent.test", True)):
    if silent:
        cfg = lwiptap.ifconfig()
        lwiptap.ifconfig(cfg[:3] + ("10.99.0.9",))  # nobody there
    t = time.ticks_ms()
    try:
        socket.getaddrinfo(name, 80)
        raise AssertionError("resolved " + name)
    except OSError as e:
        ms = time.ticks_diff(time.ticks_ms(), t)
        assert ms < 15000, ms
        ok("getaddrinfo", name, "->", repr(e), "in", ms, "ms", "(no DNS server)" if silent else "(NXDOMAIN)")
    if silent:
        lwiptap.ifconfig(cfg)

# lwIP runs while Python sleeps or computes: the echo is in before anything reads or polls.
import asyncio
async def nap(ms):
    await asyncio.sleep_ms(ms)
def busy(ms):
    end = time.ticks_add(time.ticks_ms(), ms)
    while time.ticks_diff(end, time.ticks_ms()) > 0:
        pass
for how, pause in (("time.sleep", lambda: time.sleep(0.3)), ("busy loop", lambda: busy(300)),
                   ("asyncio.sleep", lambda: asyncio.run(nap(300)))):
    s = connect()
    s.setblocking(False)
    rx = lwiptap.stats()["rx_frames"]
    s.write(b"while " + how.encode())
    pause()
    assert lwiptap.stats()["rx_frames"] > rx, how
    assert s.read(64) == b"while " + how.encode(), how
    s.close()
    ok("lwIP ran during", how)

# The WiFi hook from outside: SIGUSR1 drops the AP, SIGUSR2 brings it back.
s = connect()
assert echo_once(s, b"before") == b"before"
print("signal USR1")
assert wait(lambda: not lwiptap.link(), 3000), "SIGUSR1 not applied"
assert not w.isconnected() and w.status() == network.STAT_IDLE and not lwiptap.stats()["link"]
st = lwiptap.stats()
try:
    s.write(b"during")
    ok("write while down accepted (queued)")
except OSError as e:
    ok("write while down:", repr(e))
p = select.poll()
p.register(s, select.POLLIN)
assert not p.poll(1000), "data while the link is down"
w.connect("x", "y")
assert not wait(w.isconnected, 600), "rejoined while the AP is gone"
assert w.status() == network.STAT_NO_AP_FOUND, w.status()
st2 = lwiptap.stats()
assert st2["rx_frames"] == st["rx_frames"] and st2["tx_frames"] == st["tx_frames"], (st, st2)
ok("link down: isconnected False, no frame in or out, connect() fails:", w.status(),
   "dropped rx/tx", st2["rx_dropped"] - st["rx_dropped"], st2["tx_dropped"] - st["tx_dropped"])
print("signal USR2")
assert wait(lwiptap.link, 3000), "SIGUSR2 not applied"
assert not w.isconnected(), "rejoined without connect()"
w.connect("x", "y")
assert wait(w.isconnected, 2000), w.status()
s.write(b"after")
got = read_until(s, b"after", 5000)
assert got.endswith(b"after"), got
s.close()
ok("after SIGUSR2 + connect(): same TCP connection echoes", got)
print("SMOKE OK")
'''


def sh(*cmd, ns=True, **kw):
    full = (["ip", "netns", "exec", NS] if ns else []) + [str(c) for c in cmd]
    return subprocess.run(full, check=True, capture_output=True, text=True, **kw)


def binary(argv):
    if "--bin" in argv:
        return str(Path(argv[argv.index("--bin") + 1]).resolve())
    p = subprocess.run([sys.executable, str(REPO / "tools" / "firmware.py"), "lwip32"], capture_output=True,
                       text=True)
    if p.returncode:
        sys.exit("smoke: build failed:\n" + p.stderr[-3000:])
    return p.stdout.split()[-1]


def main(argv):
    if os.geteuid() != 0:
        sys.exit("smoke: needs root (ip netns, TAP device)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("smoke: terminated"))  # still clean up
    prog = binary(argv)
    tmp = Path(tempfile.mkdtemp(prefix="lwip32-smoke-"))
    helper = device = None
    try:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-subj", "/CN=echo.test", "-days", "2", "-keyout", tmp / "key.pem",
                        "-out", tmp / "cert.pem"], check=True, capture_output=True)
        sh("ip", "netns", "add", NS, ns=False)
        sh("ip", "link", "set", "lo", "up")
        sh("ip", "tuntap", "add", "dev", "tap0", "mode", "tap")
        sh("ip", "addr", "add", "10.99.0.1/24", "dev", "tap0")
        sh("ip", "link", "set", "tap0", "up")
        helper = subprocess.Popen(["ip", "netns", "exec", NS, sys.executable, "-c", HELPER, tmp / "cert.pem",
                                   tmp / "key.pem"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if helper.stdout.readline().strip() != "ready":
            sys.exit("smoke: helper servers did not start")
        (tmp / "device.py").write_text(DEVICE)
        env = dict(os.environ, **ENV)
        # `ip netns exec` execs the command: the pid is the device's, for the signals.
        device = subprocess.Popen(["ip", "netns", "exec", NS, prog, tmp / "device.py"], cwd=str(tmp), env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        watchdog = threading.Timer(TIMEOUT_S, device.kill)  # a hung device ends the run, failed
        watchdog.daemon = True
        watchdog.start()
        passed = False
        for line in device.stdout:
            print("device:", line.rstrip(), flush=True)
            if line.startswith("signal "):
                os.kill(device.pid, getattr(signal, "SIG" + line.split()[1]))
            passed |= line.strip() == "SMOKE OK"
        rc = device.wait()
        watchdog.cancel()
        if rc == -signal.SIGKILL:
            print("smoke: the device hung for %d s" % TIMEOUT_S)
        if rc or not passed:
            print("smoke: FAILED (device exit %s)" % rc)
            return 1
        print("smoke: passed")
        return 0
    finally:
        # A second TERM (timeout(1) signals its whole group) must not cut the clean-up short.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for p in (device, helper):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
        subprocess.run(["ip", "netns", "del", NS], capture_output=True)
        subprocess.run(["rm", "-rf", str(tmp)])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
