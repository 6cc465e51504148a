"""The asyncio telemetry app (boards/common/telemetry_aio.py, ASYNC = True in config.py) on each board
under the MicroPython unix port against the REAL broker, with the same stand-in hardware and the same
checks as test_boards.py (readings at a paho subscriber, commands through the broker, a stored reboot,
a WiFi drop that also closes the route through Toxiproxy); host_tests/boards/boards_run_aio.py reports.
"""
import json

import pytest

from test_boards import Board, devices_key, store_kill_mid_outage  # noqa: F401  (devices_key: the fixture)

pytest_plugins = ["toxiproxy"]


class AioBoard(Board):
    RUNNER = "boards_run_aio.py"
    CONFIG_EXTRA = "ASYNC = True\n"


@pytest.fixture
def boards(broker, devices_key, tmp_path):  # noqa: F811
    made = []

    def make(board, port=None):
        b = AioBoard(broker, devices_key, tmp_path, board, "134", port)
        made.append(b)
        return b
    yield make
    for b in made:
        b.stop()


@pytest.mark.parametrize("board", ["esp32", "rp2040", "unix"])
def test_board_publishes_readings(micropython, boards, board):
    b = boards(board).start(count=2)
    r, out = b.result()
    assert "telemetry: connected" in out, out
    assert b.seqs(2) == [1, 2], (b.sub.seqs, out)
    assert r["qos"] == [1, 1], r["qos"]
    temps = [x["temp_c"] for x in b.sub.readings]
    if board == "esp32":
        assert temps == [45.0] * 2, temps
        assert r["wdt_timeout"] == 8000 and r["feeds"] >= 2
    if board == "rp2040":
        assert all(26 < t < 28 for t in temps), temps
        assert r["wdt_timeout"] <= 8388 and r["feeds"] >= 2
    if board != "unix":
        print("watchdog fed every %d ms at most" % r["max_gap_ms"])
        assert r["max_gap_ms"] < 1500 < r["wdt_timeout"]  # its own task feeds it every second


def test_command_changes_interval_and_led(micropython, boards):
    b = boards("esp32").start("command", count=3, interval=2)
    assert b.sub.wait(lambda: 1 in b.sub.seqs, 20), "".join(b.out)
    b.command({"interval": 1, "led": True})
    r, out = b.result()
    assert b.seqs(3) == [1, 2, 3], (b.sub.seqs, out)
    assert r["led"] == [[2, 1]], r["led"]
    assert "interval 1" in out
    ups = [x["uptime_ms"] for x in sorted(b.sub.readings, key=lambda x: x["seq"])]
    gaps = [y - x for x, y in zip(ups, ups[1:])]
    print("gaps between readings (ms), the command after the first:", gaps)
    assert gaps[0] >= 1800 and gaps[1] < 1800, gaps


def test_reboot_command(micropython, boards):
    b = boards("esp32")
    b.command({"reboot": True}, ttl=60)  # stored: it replays when the device subscribes
    b.start("reboot", count=5)
    r, out = b.result()
    assert r["reset"], out
    import time
    time.sleep(0.3)
    assert b.sub.seqs == [], b.sub.seqs  # rebooted before its first reading


def test_wifi_drop_is_survived(micropython, boards, toxi_proxy):
    b = boards("rp2040", port=toxi_proxy.port)
    proxy = {"toxiproxy_host": toxi_proxy.server.host, "toxiproxy_port": toxi_proxy.server.api_port,
             "proxy_name": toxi_proxy.name}
    b.start("wifi", count=3, extra_env={"BOARD_PROXY": json.dumps(proxy)})
    r, out = b.result()
    assert r["wifi"]["drops"] == 1 and r["wifi"]["joins"] >= 3, r["wifi"]
    assert "wifi: no link" in out and "link down, reconnecting" in out, out
    assert b.seqs(3) == [1, 2, 3], (b.sub.seqs, out)
    print("watchdog fed every %d ms at most, through the WiFi drop" % r["max_gap_ms"])
    assert r["max_gap_ms"] < 1500, r["max_gap_ms"]  # joins wait without holding up the watchdog's task


def test_store_keeps_readings_across_a_kill_mid_outage(micropython, boards, toxi_proxy):
    store_kill_mid_outage(boards("unix", port=toxi_proxy.port), toxi_proxy)
