"""Each board app under the MicroPython unix port, with stand-in hardware modules
(host_tests/standins: network, machine, esp32) and the in-process fake peer.

Only the hardware and the network peer are stand-ins here; the same apps against
the real broker are in test_real_broker.py (skipped while the broker cannot be had).
"""
import json
import os
import subprocess

import pytest

import mp

BOARDS = mp.REPO / "boards"
CONFIG = """
WIFI_SSID = "lab"
WIFI_PASSWORD = "pw"
KEY = "KEY-test"
CHANNEL = "devices/test-1/telemetry/"
COMMAND_CHANNEL = "devices/test-1/commands/"
INTERVAL_S = {interval}
COUNT = {count}
LED_PIN = 2
WIFI_TIMEOUT_MS = 300
WIFI_RETRY_MS = 200
WDT_MS = 8000
EMITTER = {{"host": "127.0.0.1", "port": 8080, "secure": False, "keepalive": 30, "timeout": 1}}
"""


def run_board(tmp_path, board, scenario="basic", count=3, interval=1):
    (tmp_path / "config.py").write_text(CONFIG.format(count=count, interval=interval))
    env = dict(os.environ)
    front = [tmp_path, mp.HOST_TESTS / "standins", BOARDS / board, BOARDS / "common"]
    env["MICROPYPATH"] = mp.micropypath(mp.UMQTT134, front)
    proc = subprocess.run([mp.micropython_cmd(), str(mp.HOST_TESTS / "boards_run.py"), str(BOARDS / board), scenario],
                          cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=60)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, "exit %s\n%s\n%s" % (proc.returncode, proc.stdout, proc.stderr)
    return json.loads(lines[-1][7:]), proc.stdout


@pytest.mark.parametrize("board", ["esp32", "rp2040", "unix"])
def test_board_publishes_readings(micropython, tmp_path, board):
    r, out = run_board(tmp_path, board)
    assert [x["seq"] for x in r["readings"]] == [1, 2, 3]
    assert all(q == 2 for q in r["qos"])  # QoS 1
    assert r["subscribed"] == ["KEY-test/devices/test-1/commands/"]
    temps = [x["temp_c"] for x in r["readings"]]
    if board == "esp32":
        assert temps == [45.0] * 3  # (113 F - 32) / 1.8 from raw_temperature()
        assert r["wdt_timeout"] == 8000 and r["feeds"] >= 3
    if board == "rp2040":
        assert all(26 < t < 28 for t in temps)  # ADC channel 4 at 0.705 V
        assert r["wdt_timeout"] <= 8388 and r["feeds"] >= 3
    if board != "unix":
        assert r["max_gap_ms"] < r["wdt_timeout"]  # the watchdog is fed in time


def test_command_changes_interval_and_led(micropython, tmp_path):
    r, out = run_board(tmp_path, "esp32", "command", count=5, interval=3)
    assert r["led"] == [[2, 1]]
    assert "interval 1" in out
    ups = [x["uptime_ms"] for x in r["readings"]]
    gaps = [b - a for a, b in zip(ups, ups[1:])]
    assert gaps[0] >= 2500 and max(gaps[2:]) < 2000  # 3 s before the command, 1 s after


def test_reboot_command(micropython, tmp_path):
    r, out = run_board(tmp_path, "esp32", "reboot", count=5)
    assert r["reset"] and len(r["readings"]) <= 1


def test_wifi_drop_is_survived(micropython, tmp_path):
    r, out = run_board(tmp_path, "rp2040", "wifi", count=4)
    assert r["wifi"]["drops"] == 1 and r["wifi"]["joins"] >= 3
    assert [x["seq"] for x in r["readings"]] == [1, 2, 3, 4]
    assert "wifi: no link" in out
