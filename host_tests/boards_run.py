# Runs a board's main.py under the MicroPython unix port with stand-in hardware
# (host_tests/standins) and the in-process fake peer, then prints what happened
# as one JSON line starting with "RESULT ".
# usage: micropython host_tests/boards_run.py BOARD_DIR SCENARIO
import json
import sys

import fakepeer
import machine
import network

board_dir, scenario = sys.argv[1], sys.argv[2]
peer = fakepeer.install()
commands = []


def after_publish():
    # React to the device's readings as a user at a console would.
    readings = [p for p in peer.of(0x30) if b"telemetry" in p.topic()]
    if scenario == "command" and len(readings) == 2 and not commands:
        commands.append(1)
        peer.feed(fakepeer.publish("devices/test-1/commands/", '{"interval": 1, "led": true}'))
    if scenario == "wifi" and len(readings) == 2 and network.state["drop_at"] is None and not commands:
        commands.append(1)
        network.state["drop_at"] = network.state["calls"] + 1
        network.state["join_after"] = network.state["joins"] + 2  # two failed joins before it comes back


_got = peer._got


def _watch(data):
    _got(data)
    after_publish()


peer._got = _watch
if scenario == "reboot":
    peer.replay[b"KEY-test/devices/test-1/commands/"] = [("devices/test-1/commands/", '{"reboot": true}')]
reset = False
try:
    exec(open(board_dir + "/main.py").read(), {"__name__": "__main__"})
except machine.ResetCalled:
    reset = True
readings = [json.loads(p.payload()) for p in peer.of(0x30) if b"telemetry" in p.topic()]
print("RESULT " + json.dumps({
    "readings": readings,
    "qos": [p.first & 6 for p in peer.of(0x30)],
    "subscribed": [p.topic().decode() for p in peer.of(0x80)],
    "connects": peer.connects,
    "led": machine.log["led"],
    "wdt_timeout": machine.log["wdt_timeout"],
    "feeds": machine.log["feeds"],
    "max_gap_ms": machine.log["max_gap_ms"],
    "wifi": network.state,
    "reset": reset,
}))
