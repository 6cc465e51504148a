"""The lwIP build's WiFi join ends, as a Pico W's does with DHCP, with a round trip through the network:
the gateway's answer to ARP. Until then status() is STAT_NOIP and isconnected() False.

Why it matters: the kernel drops what a TAP device just attached sends until its bridge port forwards,
up to a second later (about 1 launch in 10 lost its first ARP request here). lwIP asks again only on its
1 s ARP timer, so a device's first connect with a short timeout then failed (CI, 2026-12-05: the first
connect of test_link_faults' lwip32 case, timeout 1 s).
"""
import json
import os
import socket
import subprocess

import pytest

import netns
import runtimes

STAT_CONNECTING, STAT_NOIP, STAT_GOT_IP = 1, 2, 3
# At start (LWIP_JOINED=1, as the test runners have it): the state, then a TCP connect at once with a
# timeout far under lwIP's 1 s ARP retry. Joining by WLAN.connect() (a board app): the states seen.
DEVICE = r'''
import sys, time, json, socket, lwiptap, network
print("START", lwiptap.status())
if sys.argv[1] == "connect":
    s = socket.socket()
    s.settimeout(0.3)
    try:
        s.connect(socket.getaddrinfo(sys.argv[2], int(sys.argv[3]))[0][-1])
        print("CONNECTED")
    except OSError as e:
        print("FAILED", e)
    s.close()
else:
    w = network.WLAN(network.STA_IF)
    w.active(True)
    w.connect("ssid", "key")
    seen, t0 = [], time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), t0) < 1500 and not w.isconnected():
        s = w.status()
        if not seen or seen[-1] != s:
            seen.append(s)
        time.sleep_ms(5)
    print("JOIN " + json.dumps({"seen": seen + [w.status()], "connected": w.isconnected()}))
'''


def _device(*args, **env_over):
    exe, path, extra = runtimes.launch(runtimes.LWIP32)  # fails with the reason where there is no namespace
    env = dict(os.environ, MICROPYPATH=":".join(path), **dict(extra, **env_over))
    p = subprocess.run([exe, "-c", DEVICE] + [str(a) for a in args], env=env, capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout, p.stderr


@pytest.fixture
def listener():
    s = socket.socket()
    s.bind((netns.HOST, 0))
    s.listen(32)
    yield s.getsockname()
    s.close()


def test_lwip_first_connect_right_after_start(listener):
    """Ten fresh devices, each connecting at once with a 0.3 s timeout: every one is joined at start
    and connects on the first try."""
    for launch in range(10):
        out, err = _device("connect", *listener)
        assert "START %d" % STAT_GOT_IP in out and "CONNECTED" in out, (launch, out, err)


def test_lwip_joined_start_waits_for_the_gateway():
    """A gateway nobody answers for: the start waits its 3 s, says so, and the station has no address."""
    out, err = _device("connect", netns.HOST, 9, LWIP_GW="10.99.0.99")
    assert "START %d" % STAT_NOIP in out, (out, err)
    assert "no ARP answer from the gateway" in err, err


@pytest.mark.parametrize("gateway,answered", [(None, True), ("10.99.0.99", False)])
def test_lwip_join_ends_with_the_gateways_answer(gateway, answered):
    """WLAN.connect(): CONNECTING, then NOIP until the gateway answers, then GOT_IP; never GOT_IP
    without an answer."""
    over = {"LWIP_JOINED": "0"}
    if gateway:
        over["LWIP_GW"] = gateway
    out, err = _device("join", **over)
    lines = [json.loads(line[5:]) for line in out.splitlines() if line.startswith("JOIN ")]
    assert lines, (out, err)
    join = lines[0]
    assert join["seen"][0] == STAT_CONNECTING, join
    if answered:
        assert join["connected"] and join["seen"][-1] == STAT_GOT_IP, join
    else:
        assert not join["connected"] and join["seen"][-1] == STAT_NOIP and STAT_GOT_IP not in join["seen"], join
