# The device side of test_link_faults.py, over real TCP (unix port, lwIP build over TAP, in-process under CPython).
# usage: micropython host_tests/link_faults/link_faults_client.py CASE HOST PORT KEY CHANNEL  -> prints "RESULT <json>"
#   wait:    loop()'s wait on the real broker (nothing comes: the whole wait; traffic: back at once)
#   garbage: a scripted peer (host_tests/support/peers.py) answers the CONNECT with garbage: dropped, reconnected
import json
import sys
import time

import emitter_micro


def until(em, cond, ms):
    t0 = time.ticks_ms()
    while not cond():
        if time.ticks_diff(time.ticks_ms(), t0) > ms:
            return None
        em.loop(50)
    return time.ticks_diff(time.ticks_ms(), t0)


def run(case, host, port, key, channel):
    em = emitter_micro.Emitter({"host": host, "port": port, "secure": False, "keepalive": 2, "timeout": 1,
                                "backoff_ms": (100, 400)})
    events = []
    em.on("connect", lambda: events.append("connect"))
    em.on("disconnect", lambda: events.append("disconnect"))
    em.on("error", lambda e: events.append("error " + e["message"]))
    em.on("message", lambda m: events.append(m.asString()))
    em.connect()
    em.subscribe(key, channel)
    em.loop(0)
    out = {"case": case}
    if case == "wait":
        t0 = time.ticks_ms()
        em.loop(300)  # nothing comes: the whole wait
        out["idle_ms"] = time.ticks_diff(time.ticks_ms(), t0)
        em.publish(key, channel, "echo")
        t0 = time.ticks_ms()
        n = em.loop(2000)  # the echo comes at once: no need to wait longer
        out["busy_ms"] = time.ticks_diff(time.ticks_ms(), t0)
        out["dispatched"] = n
    elif case == "garbage":
        em.publish(key, channel, "one")
        out["detect_ms"] = until(em, lambda: not em.connected, 10000)
        em.publish(key, channel, "while down", qos=1)  # queued, not raised
        out["reconnect_ms"] = until(em, lambda: em.connected, 10000)
    em.flush(3000)
    em.publish(key, channel, "after")
    until(em, lambda: "after" in events, 3000)
    out["events"] = events[:]
    out["pending"] = em.pending()
    em.disconnect()
    return out


if __name__ == "__main__":
    a = sys.argv[1:]
    print("RESULT " + json.dumps(run(a[0], a[1], int(a[2]), a[3], a[4])))
