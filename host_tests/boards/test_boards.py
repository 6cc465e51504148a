"""Each board app (boards/*/main.py) under the MicroPython unix port against the REAL broker,
with stand-in hardware only (host_tests/support/standins: network, machine, esp32), per umqtt version.

A CPython paho subscriber on the broker checks that the readings arrive; commands are published to
the device through the broker as a console would (a live one, and a stored reboot that replays on
subscribe); the WiFi drop also cuts the device's route to the broker (a Toxiproxy proxy in front of
it, closed while the stand-in radio is down). The device side reports what the hardware stand-ins
saw (host_tests/boards/boards_run.py).
"""
import json
import os
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest

import runtimes
from broker_harness import BS_DIR, VERSIONS, Subscriber, paho_publish

pytest_plugins = ["toxiproxy"]  # toxi_proxy: the device's route to the broker, for the WiFi drop

BOARDS = runtimes.REPO / "boards"
HERE = Path(__file__).resolve().parent  # boards_run.py, boards_run_aio.py: the runners of the board apps
CONFIG = """
WIFI_SSID = "lab"
WIFI_PASSWORD = "pw"
KEY = {key!r}
CHANNEL = {channel!r}
COMMAND_CHANNEL = {commands!r}
INTERVAL_S = {interval}
COUNT = {count}
LED_PIN = 2
WIFI_TIMEOUT_MS = 300
WIFI_RETRY_MS = 200
WDT_MS = 8000
EMITTER = {{"host": {host!r}, "port": {port}, "secure": False, "keepalive": 30, "timeout": {timeout}}}
"""


class Readings(Subscriber):
    """real_broker.Subscriber keeping every reading as it came ({"seq", "uptime_ms", "temp_c"})."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.readings = []
        self.arrivals = []  # (monotonic time, seq)

    def _on_message(self, client, userdata, msg):
        try:
            d = json.loads(msg.payload)
        except ValueError:
            d = None
        with self._cond:
            if msg.topic == self.channel and isinstance(d, dict) and "seq" in d:
                self.readings.append(d)
                self.arrivals.append((time.monotonic(), d["seq"]))
        super()._on_message(client, userdata, msg)


@pytest.fixture(scope="module")
def devices_key(broker):
    return broker.keygen("devices/#/", "rwslp")


class Board:
    """One board app run: its config, the subscriber on its readings, the device process."""

    RUNNER = "boards_run.py"  # what runs the app under the unix port and reports
    CONFIG_EXTRA = ""  # appended to config.py

    def __init__(self, broker, key, tmp_path, board, version, port=None):
        dev = "b" + uuid.uuid4().hex[:8]
        self.broker, self.key, self.tmp_path, self.board, self.version = broker, key, tmp_path, board, version
        self.channel = "devices/%s/telemetry/" % dev
        self.commands = "devices/%s/commands/" % dev
        self.port = port or broker.port
        self.sub = Readings(broker.host, broker.port, key, self.channel).start()
        assert self.sub.wait_connected(10), "the readings subscriber did not connect"
        self.proc = None

    def command(self, body, ttl=None):
        topic = "%s/%s%s" % (self.key, self.commands, "?ttl=%d" % ttl if ttl else "")
        paho_publish(self.broker.host, self.broker.port, topic, json.dumps(body))

    def start(self, scenario="basic", count=3, interval=1, extra_env=None, timeout=1):
        (self.tmp_path / "config.py").write_text(CONFIG.format(
            key=self.key, channel=self.channel, commands=self.commands, interval=interval, count=count,
            host=self.broker.host, port=self.port, timeout=timeout) + self.CONFIG_EXTRA)
        env = dict(os.environ, **(extra_env or {}))
        front = [self.tmp_path, runtimes.SUPPORT / "standins", BOARDS / self.board, BOARDS / "common"]
        if self.version == runtimes.LWIP32:
            # emitter_micro, umqtt.simple and network come from the firmware (.frozen first: the stand-in
            # network.py beside machine.py is never reached); the app joins the WiFi itself.
            exe, path, extra = runtimes.launch(runtimes.LWIP32)
            env.update(extra, LWIP_JOINED="0")
            env["MICROPYPATH"] = ":".join(path + [str(p) for p in front] + [str(BS_DIR)])
        else:
            exe = runtimes.micropython_cmd()
            env["MICROPYPATH"] = ":".join([".frozen"] + [str(p) for p in front] + [
                str(runtimes.REPO), str(runtimes.umqtt_versions()[self.version]), str(BS_DIR)])
        self.proc = subprocess.Popen([exe, str(HERE / self.RUNNER),
                                      str(BOARDS / self.board), scenario],
                                     cwd=str(self.tmp_path), env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.out = []
        self._reader = threading.Thread(target=lambda: self.out.extend(self.proc.stdout), daemon=True)
        self._reader.start()
        return self

    def result(self, timeout=60):
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # our own child, by its PID
            self.proc.wait(10)
        self._reader.join(5)
        err = self.proc.stderr.read()
        text = "".join(self.out)
        lines = [line for line in text.splitlines() if line.startswith("RESULT ")]
        assert self.proc.returncode == 0 and lines, "exit %s\n%s\n%s" % (self.proc.returncode, text, err)
        return json.loads(lines[-1][7:]), text

    def seqs(self, n, timeout=10):
        """The seqs received, once n distinct ones are in (or timeout)."""
        self.sub.wait(lambda: len(set(self.sub.seqs)) >= n, timeout)
        return sorted(set(self.sub.seqs))

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.sub.stop()


@pytest.fixture
def boards(broker, devices_key, tmp_path):
    made = []

    def make(board, version, port=None):
        b = Board(broker, devices_key, tmp_path, board, version, port)
        made.append(b)
        return b
    yield make
    for b in made:
        b.stop()


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: "umqtt" + v)
@pytest.mark.parametrize("board", ["esp32", "rp2040", "unix"])
def test_board_publishes_readings(micropython, boards, board, version):
    b = boards(board, version).start(count=2)
    r, out = b.result()
    assert b.seqs(2) == [1, 2], (b.sub.seqs, out)
    assert r["qos"] == [1, 1], r["qos"]
    temps = [x["temp_c"] for x in b.sub.readings]
    if board == "esp32":
        assert temps == [45.0] * 2, temps  # (113 F - 32) / 1.8 from raw_temperature()
        assert r["wdt_timeout"] == 8000 and r["feeds"] >= 2
    if board == "rp2040":
        assert all(26 < t < 28 for t in temps), temps  # ADC channel 4 at 0.705 V
        assert r["wdt_timeout"] <= 8388 and r["feeds"] >= 2
    if board != "unix":
        assert r["max_gap_ms"] < r["wdt_timeout"]  # the watchdog is fed in time


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: "umqtt" + v)
def test_command_changes_interval_and_led(micropython, boards, version):
    b = boards("esp32", version).start("command", count=3, interval=2)
    assert b.sub.wait(lambda: 1 in b.sub.seqs, 20), "".join(b.out)
    b.command({"interval": 1, "led": True})  # a console, through the broker
    r, out = b.result()
    assert b.seqs(3) == [1, 2, 3], (b.sub.seqs, out)
    assert r["led"] == [[2, 1]], r["led"]
    assert "interval 1" in out
    ups = [x["uptime_ms"] for x in sorted(b.sub.readings, key=lambda x: x["seq"])]
    gaps = [y - x for x, y in zip(ups, ups[1:])]
    print("gaps between readings (ms), the command after the first:", gaps)
    assert gaps[0] >= 1800 and gaps[1] < 1800, gaps  # the second was due 2 s after the first; then 1 s


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: "umqtt" + v)
def test_reboot_command(micropython, boards, version):
    b = boards("esp32", version)
    b.command({"reboot": True}, ttl=60)  # stored: it replays when the device subscribes
    b.start("reboot", count=5)
    r, out = b.result()
    assert r["reset"], out
    time.sleep(0.3)
    assert b.sub.seqs == [], b.sub.seqs  # rebooted before its first reading


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: "umqtt" + v)
def test_wifi_drop_is_survived(micropython, boards, toxi_proxy, version):
    b = boards("rp2040", version, port=toxi_proxy.port)
    proxy = {"toxiproxy_host": toxi_proxy.server.host, "toxiproxy_port": toxi_proxy.server.api_port,
             "proxy_name": toxi_proxy.name}
    b.start("wifi", count=3, extra_env={"BOARD_PROXY": json.dumps(proxy)})
    r, out = b.result()
    assert r["wifi"]["drops"] == 1 and r["wifi"]["joins"] >= 3, r["wifi"]
    assert "wifi: no link" in out and "link down, reconnecting" in out, out
    assert b.seqs(3) == [1, 2, 3], (b.sub.seqs, out)  # the third made after the drop


def store_kill_mid_outage(b, proxy):
    """config.py's STORE = "<path>": the board app killed (SIGKILL, a power cut) in an outage with readings
    queued, then started again on the same store: every reading of both runs arrives (the first run's stored
    ones before the second run's own), each once."""
    b.CONFIG_EXTRA += "STORE = %r\n" % str(b.tmp_path / "queue")
    b.start(count=None, interval=1)
    assert b.sub.wait(lambda: 2 in b.sub.seqs, 30), "".join(b.out)
    proxy.server.request("POST", "/proxies/%s" % proxy.name, {"enabled": False})  # the broker unreachable
    end = time.monotonic() + 30

    def published(lines):
        """(seq, uptime_ms) of each reading the app said it published (delivered or queued)."""
        return [tuple(int(w) for w in x.split()[2:5:2]) for x in lines if x.startswith("telemetry: reading ")]
    while len([x for x in list(b.out) if x.endswith(" queued\n")]) < 4 and time.monotonic() < end:
        time.sleep(0.1)
    b.proc.kill()  # our own child, by its PID
    b.proc.wait(10)
    b._reader.join(5)
    first = published(b.out)
    queued = [s for s, t in first if (s, t) not in {(x["seq"], x["uptime_ms"]) for x in b.sub.readings}]
    assert len(queued) >= 4 and "link down" in "".join(b.out), "".join(b.out)
    proxy.server.request("POST", "/proxies/%s" % proxy.name, {"enabled": True})
    b.start(count=3, interval=1)
    r, out = b.result()
    want = first + published(out.splitlines())
    b.sub.wait(lambda: len(b.sub.readings) >= len(want), 20)
    got = [(x["seq"], x["uptime_ms"]) for x in b.sub.readings]
    assert sorted(got) == sorted(want), "lost %s, duplicated %s\n%s" % (
        sorted(set(want) - set(got)), [g for g in set(got) if got.count(g) > 1], out)
    assert got[-3:] == want[-3:], got  # the second run's own after what the first one had stored
    print("killed with readings %s queued; after the restart all %d readings of both runs arrived, each once"
          % (queued, len(want)))


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: "umqtt" + v)
def test_store_keeps_readings_across_a_kill_mid_outage(micropython, boards, toxi_proxy, version):
    store_kill_mid_outage(boards("unix", version, port=toxi_proxy.port), toxi_proxy)


def test_rp2040_on_lwip_wifi_down_10s(boards):
    """The rp2040 app unchanged on the lwIP build with its own network module: the WiFi goes away for 10 s
    mid-loop (SIGUSR1: the access point gone, lwIP's link down, frames dropped; SIGUSR2: back), with the
    board's timeout of 3 s. No reading is lost, the watchdog is fed all through, the app comes back by itself."""
    b = boards("rp2040", runtimes.LWIP32)
    count = 20
    b.start(count=count, interval=1, timeout=3)
    assert b.sub.wait(lambda: 3 in b.sub.seqs, 30), "".join(b.out)
    os.kill(b.proc.pid, signal.SIGUSR1)  # our own child, by its PID
    down = time.monotonic()
    time.sleep(10)
    before = max(b.sub.seqs)
    os.kill(b.proc.pid, signal.SIGUSR2)
    up = time.monotonic()
    r, out = b.result(timeout=120)
    assert b.seqs(count, timeout=20) == list(range(1, count + 1)), (b.sub.seqs, out)
    assert r["wdt_timeout"] == 8000 and r["max_gap_ms"] < r["wdt_timeout"], r
    assert "wifi: no link" in out and "wifi: up" in out, out  # the app saw the drop and joined again
    back = [t for t, s in b.sub.arrivals if s > before]
    print("WiFi down %.1f s after reading %d; the next reading in %.1f s after the access point came back; "
          "longest watchdog gap %d ms" % (up - down, before, back[0] - up, r["max_gap_ms"]))
