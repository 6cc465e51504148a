"""Running things for the real-broker tests (the features' test_*_broker.py and the others); not a test module itself.

A scenario case (`def case_xxx(env):` in <feature>/bs_*.py) in-process
under CPython or under the MicroPython unix port (support/run_case.py,
env as JSON in $BS_ENV); a device function under the unix port with its output
lines timed (Device); a CPython paho subscriber that records the readings it
gets (Subscriber); a one-shot paho publish.
"""
import importlib
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

import runtimes

SUPPORT = Path(__file__).resolve().parent
HOST_TESTS = SUPPORT.parent
BS_DIR = SUPPORT  # the shared device-side helpers of the cases: bs_util.py and the runner run_case.py
RUN_CASE = SUPPORT / "run_case.py"
# The case modules live in their feature's folder (host_tests/<feature>/bs_*.py and the few other case
# modules: aio_faults, field_lwip, blockfile); module names are unique across the folders.
CASE_MODULES = {p.stem: p.parent for p in sorted(HOST_TESTS.glob("*/*.py"))
                if p.stem.startswith("bs_") or p.stem in ("aio_faults", "field_lwip", "blockfile")}
CASE_DIRS = sorted(set(CASE_MODULES.values()))
for _d in [SUPPORT] + CASE_DIRS:
    if str(_d) not in sys.path:
        sys.path.insert(0, str(_d))


def case_dir(module):
    """The feature folder holding case module `module` (host_tests/<feature>/)."""
    return CASE_MODULES[module]


def case_path(module):
    """MICROPYPATH parts a device-side run of `module` needs: its feature folder first, then the other
    features' case folders (a case may borrow another feature's helpers: bs_store's asyncio case takes
    bs_aio's), then the shared helpers."""
    own = case_dir(module)
    return [str(own)] + [str(d) for d in CASE_DIRS if d != own] + [str(SUPPORT)]

CASE_TIMEOUT_S = 120
VERSIONS = sorted(runtimes.umqtt_versions())
RUNTIMES = runtimes.names()  # VERSIONS (the PyPI unix port per umqtt version) and the frozen 32-bit build


def _purge_scenarios():
    for name in list(sys.modules):
        if name.startswith("bs_"):
            del sys.modules[name]


def run_in_cpython(module, function, env):
    """Import the case module fresh (bound to the emitter_micro just imported) and call the case."""
    _purge_scenarios()
    from bs_util import Env
    mod = importlib.import_module(module)
    try:
        getattr(mod, function)(Env(env))
    finally:
        _purge_scenarios()


def _mp_cmd_env(runtime, module, function, env):
    exe, path, extra = runtimes.launch(runtime)
    if exe is None:
        pytest.fail("`micropython` not found beside %s nor on PATH" % sys.executable, pytrace=False)
    full = dict(os.environ)
    full.update(extra)
    full["MICROPYPATH"] = ":".join(path + case_path(module))
    full["BS_ENV"] = json.dumps(env)
    return [exe, str(RUN_CASE), module, function], full


def run_in_unix_port(module, function, env, runtime, timeout=CASE_TIMEOUT_S):
    """(ok, report) of one case under a MicroPython runtime (runtimes.names()); ok when the last line is PASS."""
    cmd, full = _mp_cmd_env(runtime, module, function, env)
    try:
        proc = subprocess.run(cmd, cwd=str(runtimes.REPO), env=full, capture_output=True, text=True,
                              timeout=timeout)
        code, out, err = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as e:
        code = "timeout after %ss" % timeout
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
    lines = out.strip().splitlines()
    ok = code == 0 and bool(lines) and lines[-1].strip() == "PASS"
    report = ("command: %s\nMICROPYPATH=%s\nexit: %s\n--- stdout ---\n%s\n--- stderr ---\n%s"
              % (" ".join(cmd), full["MICROPYPATH"], code, out, err))
    return ok, report


class Device:
    """A device function (e.g. bs_resilience.device_telemetry) running under the unix port, lines timed."""

    def __init__(self, module, function, env, runtime):
        self.cmd, full = _mp_cmd_env(runtime, module, function, env)
        self.lines = []  # (time.monotonic(), text)
        self.proc = subprocess.Popen(self.cmd, cwd=str(runtimes.REPO), env=full,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, text=True, bufsize=1)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def running(self):
        return self.proc.poll() is None

    def wait(self, timeout):
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
        self._reader.join(5)
        return self.ok()

    def ok(self):
        return self.proc.returncode == 0 and bool(self.lines) and self.lines[-1][1].strip() == "PASS"

    def events(self, name):
        """monotonic times of the `EVENT name` lines."""
        return [t for t, line in self.lines if line.startswith("EVENT %s" % name)]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()  # by its PID, our own child
            self.proc.wait(10)

    def report(self):
        return "command: %s\nexit: %s\n%s" % (" ".join(self.cmd), self.proc.returncode,
                                             "\n".join(line for _, line in self.lines))


class Subscriber:
    """A CPython paho client on the real broker that records every {"seq": n} it receives.

    It reconnects by itself and (re)subscribes on every connect with `?last=N`
    when last is set, so stored readings published while it was away replay.
    """

    def __init__(self, host, port, key, channel, last=None):
        import paho.mqtt.client as mqtt

        self.topic = "%s/%s%s" % (key, channel, "?last=%d" % last if last else "")
        self.channel = channel
        self.seqs = []        # every seq received, duplicates included
        self.probes = 0
        self.connects = []    # monotonic times of CONNACKs
        self.other = []
        self._cond = threading.Condition()
        c = self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311,
                                      client_id="bs-sub-%s" % uuid.uuid4().hex[:8])
        c.reconnect_delay_set(min_delay=1, max_delay=1)
        c.on_connect = self._on_connect
        c.on_message = self._on_message
        c.connect_async(host, port, keepalive=30)

    def start(self):
        self.client.loop_start()
        return self

    def stop(self):
        try:
            self.client.disconnect()
        finally:
            self.client.loop_stop()

    def _on_connect(self, client, userdata, flags, reason_code, properties=None):
        self.connects.append(time.monotonic())
        client.subscribe(self.topic, qos=0)

    def _on_message(self, client, userdata, msg):
        with self._cond:
            try:
                d = json.loads(msg.payload)
            except ValueError:
                d = None
            if msg.topic == self.channel and isinstance(d, dict) and "seq" in d:
                self.seqs.append(d["seq"])
            elif msg.topic == self.channel and isinstance(d, dict) and "probe" in d:
                self.probes += 1
            else:
                self.other.append((msg.topic, msg.payload))
            self._cond.notify_all()

    def unique(self):
        with self._cond:
            return len(set(self.seqs))

    def wait(self, cond, timeout):
        end = time.monotonic() + timeout
        with self._cond:
            while not cond():
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.2))
        return True

    def wait_connected(self, timeout):
        end = time.monotonic() + timeout
        while not self.connects:
            if time.monotonic() > end:
                return False
            time.sleep(0.05)
        time.sleep(0.3)  # the SUBSCRIBE follows the CONNACK
        return True

    def summary(self, count):
        seqs = self.seqs
        missing = sorted(set(range(1, count + 1)) - set(seqs))
        dups = len(seqs) - len(set(seqs))
        return missing, dups


def paho_publish(host, port, topic, payload):
    import paho.mqtt.publish as publish
    import paho.mqtt.client as mqtt
    publish.single(topic, payload, qos=1, hostname=host, port=port, protocol=mqtt.MQTTv311)
