# Runs a board's main.py under the MicroPython unix port with stand-in hardware (host_tests/support/standins:
# network, machine, esp32) against the REAL broker (config.py, written by test_boards.py, says where),
# then prints what the device side saw as one JSON line starting with "RESULT ".
# usage: micropython host_tests/boards/boards_run.py BOARD_DIR SCENARIO
#   wifi: after the second reading the radio drops (two joins fail before one succeeds); the route to
#   the broker goes with it: BOARD_PROXY='{"toxiproxy_host":..,"toxiproxy_port":..,"proxy_name":..}'
#   names the Toxiproxy proxy the device reaches the broker through, closed while the radio is down.
import json
import os
import sys

import emitter_micro
import machine
import network
import telemetry

board_dir, scenario = sys.argv[1], sys.argv[2]
qos_used = []  # the QoS of every publish the app made
_publish = emitter_micro.Emitter.publish


def _recording_publish(self, key, channel, message, ttl=None, qos=0, retain=False, me=True):
    qos_used.append(qos)
    return _publish(self, key, channel, message, ttl, qos, retain, me)


emitter_micro.Emitter.publish = _recording_publish

if scenario == "wifi":
    from bs_util import Env, proxy_enabled
    proxy = Env(json.loads(os.getenv("BOARD_PROXY")))
    network.hooks["drop"] = lambda: proxy_enabled(proxy, False)
    network.hooks["join"] = lambda: network.state["drops"] and proxy_enabled(proxy, True)
    _reading = telemetry.Telemetry.reading

    def _reading_then_drop(self):
        r = _reading(self)
        if r["seq"] == 2:  # lost from the next isconnected(): right after this reading is published
            network.state["drop_at"] = network.state["calls"] + 1
            network.state["join_after"] = network.state["joins"] + 2  # two failed joins before it comes back
        return r
    telemetry.Telemetry.reading = _reading_then_drop

reset = False
try:
    exec(open(board_dir + "/main.py").read(), {"__name__": "__main__"})
except machine.ResetCalled:
    reset = True
print("RESULT " + json.dumps({
    "qos": qos_used,
    "led": machine.log["led"],
    "wdt_timeout": machine.log["wdt_timeout"],
    "feeds": machine.log["feeds"],
    "max_gap_ms": machine.log["max_gap_ms"],
    "wifi": getattr(network, "state", None),  # the stand-in's; the lwIP build's network has none
    "reset": reset,
}))
