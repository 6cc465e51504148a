"""emitter_micro.aio (the asyncio front-end) against the REAL broker on every runtime.

- The link faults with a 10 ms ticker (aio/aio_faults.py): QoS 1 publishes waiting for
  slow acks, the broker stopped and restarted, a half-open link detected, a 60 KB message crawling
  in through a 16 KB/s link (longer than the timeout, not a dead link). Runtimes: CPython's asyncio
  (in-process, through the shim), the MicroPython unix port (PyPI), the 32-bit unix port as stock
  firmware (.deps/firmware/umqtt32: umqtt.simple frozen, emitter_micro from the sources, asyncio
  from MicroPython's extmod/), and the frozen 32-bit build (runtimes.FROZEN32: emitter_micro, umqtt.simple
  and asyncio frozen, checked). Each has its own broker, which the case has stopped and started,
  and a Toxiproxy proxy in front of it, through a line-based controller. The figures
  (`GAP <fault> worst=<ms>`) are printed.
- Every bs_aio.py case (each call against the broker) under the 32-bit stock-firmware port;
  test_broker_harness.py runs them on CPython, the 64-bit unix port and the frozen 32-bit build.
- A sync-only user pays nothing: `import emitter_micro` loads no aio module (unix ports, CPython).
"""
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import uuid

import pytest

import broker as broker_mod
import netns
import runtimes
from broker_harness import RUN_CASE, SUPPORT, case_dir, case_path, run_in_cpython

pytest_plugins = ["toxiproxy"]

FAULTS = ["fault_slow_acks", "fault_broker_restart", "fault_half_open", "fault_slow_link", "fault_slow_uplink"]
RUNTIMES = ["cpython", "unix", "unix32", runtimes.FROZEN32, runtimes.LWIP32]
BS_AIO = [n for n in sorted(set(
    line.split("(")[0][4:] for line in (case_dir("bs_aio") / "bs_aio.py").read_text().splitlines() if line.startswith("def case_")))]
NO_SSL_32 = {"case_aio_tls"}  # the umqtt32 build has no ssl module (MICROPY_PY_SSL=0 in tools/firmware.py)
TIMEOUT_S = 120


def unix32():
    """(binary, asyncio source folder) of the 32-bit unix port, or a failure saying how to get it."""
    exe = runtimes.REPO / ".deps" / "firmware" / "umqtt32" / "micropython"
    src = sorted((runtimes.REPO / ".deps" / "src").glob("micropython-*/extmod/asyncio"))
    if not exe.is_file() or not src:
        pytest.fail("no 32-bit unix port (%s) or MicroPython source with extmod/asyncio: `make firmware`" % exe,
                    pytrace=False)
    return str(exe), str(src[-1].parent)


def run_device(runtime, module, function, env):
    """(ok, output) of one scenario function on runtime."""
    if runtime == "cpython":
        from io import StringIO
        from contextlib import redirect_stdout
        out = StringIO()
        sys.modules.pop(module, None)  # run_in_cpython renews bs_*; this one must bind to the new bs_util too
        try:
            with redirect_stdout(out):
                run_in_cpython(module, function, env)
        except Exception:
            import traceback
            return False, out.getvalue() + traceback.format_exc()
        return True, out.getvalue()
    extra = {}
    if runtime == "unix":
        exe, path = runtimes.micropython_cmd(), [".frozen", str(runtimes.REPO), str(runtimes.UMQTT134)] + case_path(module)
    elif runtime in runtimes.FIRMWARE:
        exe, path, extra = runtimes.launch(runtime)  # everything frozen, asyncio included; checked (EXPECT_FROZEN)
        path = path + case_path(module)
        if runtime == runtimes.LWIP32:
            env = dict(env, tls_host="broker.test")  # resolved by lwIP through the namespace's DNS
    else:
        exe, extmod = unix32()
        path = [".frozen", str(runtimes.REPO)] + case_path(module) + [extmod]
    full = dict(os.environ, MICROPYPATH=":".join(path), BS_ENV=json.dumps(env), **extra)
    cmd = [exe, str(RUN_CASE), module, function]
    try:
        p = subprocess.run(cmd, cwd=str(runtimes.REPO), env=full, capture_output=True, text=True, timeout=TIMEOUT_S)
        out, code = p.stdout + p.stderr, p.returncode
    except subprocess.TimeoutExpired as e:
        out, code = str(e.stdout or "") + str(e.stderr or ""), "timeout"
    lines = out.strip().splitlines()
    return code == 0 and lines and "PASS" in lines[-1], "%s\nMICROPYPATH=%s\nexit %s\n%s" % (
        " ".join(cmd), full["MICROPYPATH"], code, out)


# --- a broker of our own, and the controller the fault cases talk to -------------------------
@pytest.fixture(scope="module")
def aio_broker(emitter_bin, tmp_path_factory):
    b = broker_mod.Broker(emitter_bin, tmp_path_factory.mktemp("aio-broker")).start()
    yield b
    b.stop()


@pytest.fixture(scope="module")
def aio_env(aio_broker):
    b = aio_broker
    der = b.dir / "ca.der"
    der.write_bytes(ssl.PEM_cert_to_DER_cert(b.cert_path.read_text()))
    return {"host": b.host, "port": b.port, "tls_port": b.tls_port, "tls_host": "localhost", "secret": b.secret,
            "license": b.license, "ca_der": str(der), "refused_port": netns.refused_port(),
            "keys": {"test": b.test_key, "extend": b.extend_key, "rw": b.keygen("test/rw/", "rw"),
                     "devices": b.keygen("devices/#/", "rwslp")}}


class Controller:
    """Does what a device asks in one line: `latency MS`, `bandwidth KBPS` (from the broker),
    `upbandwidth KBPS` (to it), `halfopen`, `clear` (toxics), `stop`, `start`."""

    def __init__(self, broker, proxy):
        self.broker, self.proxy, self.log = broker, proxy, []
        self.srv = socket.create_server((netns.HOST, 0))
        self.port = self.srv.getsockname()[1]
        self.srv.settimeout(0.2)
        self.stopped = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopped:
            try:
                conn, _ = self.srv.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(30)
                line = b""
                while not line.endswith(b"\n"):
                    b = conn.recv(64)
                    if not b:
                        break
                    line += b
                try:
                    self.do(line.decode().split())
                    conn.sendall(b"ok\n")
                except Exception as e:  # told to the device, which fails with it
                    conn.sendall(("error %r\n" % e).encode())

    def do(self, words):
        self.log.append(words)
        cmd = words[0]
        if cmd == "latency":
            self.proxy.add("latency", "downstream", latency=int(words[1]))
        elif cmd == "bandwidth":
            self.proxy.add("bandwidth", "downstream", rate=int(words[1]))
        elif cmd == "upbandwidth":
            self.proxy.add("bandwidth", "upstream", rate=int(words[1]))
        elif cmd == "halfopen":
            self.proxy.add("timeout", "downstream", timeout=0)
            self.proxy.add("timeout", "upstream", timeout=0)
        elif cmd == "clear":
            self.proxy.clear()
        elif cmd == "stop":
            self.broker.stop()
        elif cmd == "start":
            self.broker.launch()
        else:
            raise ValueError("unknown command %r" % cmd)

    def close(self):
        self.stopped = True
        self.thread.join(5)
        self.srv.close()


@pytest.fixture
def env(aio_broker, aio_env, toxiproxy_server):
    proxy = toxiproxy_server.proxy(aio_broker.port, aio_broker.host)
    ctl = Controller(aio_broker, proxy)
    run = uuid.uuid4().hex[:10]
    e = json.loads(json.dumps(aio_env))
    e.update(run=run, share_group="grp" + run, proxy_port=proxy.port, proxy_name=proxy.name,
             toxiproxy_host=toxiproxy_server.host, toxiproxy_port=toxiproxy_server.api_port,
             control_port=ctl.port)
    e["keys"]["share"] = aio_broker.keygen("$share/grp%s/test/share/" % run, "rwslp")
    yield e
    ctl.close()
    try:
        proxy.clear()
    finally:
        proxy.delete()
    if not aio_broker.running:
        aio_broker.launch()  # a failed restart case must not take the broker from the next test


# --- the tests -----------------------------------------------------------------------------
@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("fault", FAULTS)
def test_ticker_keeps_ticking(env, runtime, fault):
    ok, out = run_device(runtime, "aio_faults", fault, env)
    gaps = [line for line in out.splitlines() if line.startswith("GAP ")]
    print("\n".join("%s %s" % (runtime, g) for g in gaps))
    assert ok, out
    assert gaps, out


# The umqtt32 build has no ssl module (tools/firmware.py builds it with MICROPY_PY_SSL=0): TLS runs elsewhere.
@pytest.mark.parametrize("case", [c for c in BS_AIO if c not in NO_SSL_32])
def test_bs_aio_on_32bit_port(env, case):
    ok, out = run_device("unix32", "bs_aio", case, env)
    assert ok, out


_IMPORTS = ("import sys, emitter_micro\n"
            "emitter_micro.Emitter\n"
            "print('LOADED', sorted(m for m in sys.modules if m.startswith('emitter_micro') or m.startswith('umqtt')))\n"
            "for m in [m for m in sys.modules if m.startswith('emitter_micro') or m.startswith('umqtt')]:\n"
            "    del sys.modules[m]\n"
            "from emitter_micro import aio\n"
            "print('THEN', sorted(m for m in sys.modules if m.startswith('emitter_micro') or m.startswith('umqtt')))\n")


@pytest.mark.parametrize("runtime", ["unix", "unix32", "cpython"])
def test_sync_and_asyncio_load_apart(runtime):
    """The sync client loads no asyncio module; the asyncio client loads neither umqtt.simple nor the sync
    client's modules (client, link, calls, receive)."""
    if runtime == "cpython":
        path = [str(SUPPORT), str(runtimes.REPO), str(runtimes.UMQTT134)]
        code = "import sys; sys.path[:0] = %r\nimport shim; shim.install()\n" % (path,) + _IMPORTS
        cmd, envv = [sys.executable, "-c", code], dict(os.environ)
    else:
        exe, extmod = (runtimes.micropython_cmd(), "") if runtime == "unix" else unix32()
        cmd = [exe, "-c", _IMPORTS]
        envv = dict(os.environ, MICROPYPATH=":".join([".frozen", str(runtimes.REPO), str(runtimes.UMQTT134), extmod]))
    p = subprocess.run(cmd, env=envv, capture_output=True, text=True, timeout=60, cwd=str(runtimes.HOST_TESTS))
    line = [x for x in p.stdout.splitlines() if x.startswith("LOADED ")]
    assert p.returncode == 0 and line, p.stdout + p.stderr
    loaded = line[0]
    assert "emitter_micro.client" in loaded and "umqtt.simple" in loaded and "aio" not in loaded, loaded
    then = [x for x in p.stdout.splitlines() if x.startswith("THEN ")]
    assert then and "emitter_micro.aio" in then[0], p.stdout  # the check sees aio when it is there
    for sync_only in ("umqtt", "emitter_micro.client", "emitter_micro.link", "emitter_micro.calls",
                      "emitter_micro.receive"):
        assert "'%s" % sync_only not in then[0], then[0]
