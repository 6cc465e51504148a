# Link faults seen from the device, over real loopback TCP (unix port, and in-process under CPython).
# usage: micropython host_tests/link_faults_client.py CASE PORT [CONTROL_PORT]  -> prints "RESULT <json>"
import json
import usocket as socket  # the shim provides it under CPython
import sys
import time

import emitter_micro


def control(port, command):
    """Steer tools/tcpproxy.py: pause, resume or drop."""
    s = socket.socket()
    s.settimeout(5)
    s.connect(socket.getaddrinfo("127.0.0.1", port)[0][-1])
    s.write(command.encode() + b"\n")
    s.read(3)
    s.close()


def until(em, cond, ms):
    t0 = time.ticks_ms()
    while not cond():
        if time.ticks_diff(time.ticks_ms(), t0) > ms:
            return None
        em.loop(50)
    return time.ticks_diff(time.ticks_ms(), t0)


def run(case, port, ctl=0):
    em = emitter_micro.Emitter({"host": "127.0.0.1", "port": port, "secure": False, "keepalive": 2, "timeout": 1,
                                "backoff_ms": (100, 400)})
    events = []
    em.on("connect", lambda: events.append("connect"))
    em.on("disconnect", lambda: events.append("disconnect"))
    em.on("error", lambda e: events.append("error"))
    em.on("message", lambda m: events.append(m.asString()))
    em.connect()
    em.subscribe("KEY-faults", "t/")
    em.loop(0)
    out = {"case": case}
    if case == "wait":
        t0 = time.ticks_ms()
        em.loop(300)  # nothing comes: the whole wait
        out["idle_ms"] = time.ticks_diff(time.ticks_ms(), t0)
        em.publish("KEY-faults", "t/", "echo")
        t0 = time.ticks_ms()
        n = em.loop(2000)  # the echo comes at once: no need to wait longer
        out["busy_ms"] = time.ticks_diff(time.ticks_ms(), t0)
        out["dispatched"] = n
    elif case == "halfopen":
        control(ctl, "pause")
        out["detect_ms"] = until(em, lambda: not em.connected, 10000)
        em.publish("KEY-faults", "t/", "while down", qos=1)  # queued, not raised
        control(ctl, "resume")
        out["reconnect_ms"] = until(em, lambda: em.connected, 10000)
    elif case in ("reset", "garbage"):
        em.publish("KEY-faults", "t/", "one")
        out["detect_ms"] = until(em, lambda: not em.connected, 10000)
        em.publish("KEY-faults", "t/", "while down")
        out["reconnect_ms"] = until(em, lambda: em.connected, 10000)
    em.flush(3000)
    em.publish("KEY-faults", "t/", "after")
    until(em, lambda: "after" in events, 3000)
    out["events"] = events
    out["pending"] = em.pending()
    return out


if __name__ == "__main__":
    args = sys.argv[1:]
    print("RESULT " + json.dumps(run(args[0], int(args[1]), int(args[2]) if len(args) > 2 else 0)))
