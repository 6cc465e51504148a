# The device side of test_tls.py, against the real broker's TLS listener (unix port, and in-process under CPython).
# usage: TLS_CLIENT='<json>' micropython host_tests/tls/tls_client.py  -> prints "RESULT <text>"
# (in the environment: the unix port crashes on a command-line argument of 256 bytes or more)
# json: host, port, case, ca (a DER file), key, channel; for case "reconnect" also wrong_ca and the Toxiproxy
#       proxy in front of the TLS port (toxiproxy_host, toxiproxy_port, proxy_name; MICROPYPATH holds
#       host_tests/support for bs_util).
# case: ca_path | ca_bytes (verified), no_ca (refused before connecting), unverified (verify=False),
#       reconnect (a reset on the TLS link: reconnected with the same context; a wrong CA reported).
import json
import os
import time

import emitter_micro


def _options(o):
    opts = {"host": o["host"], "port": o["port"], "secure": True, "timeout": 3, "reconnect": False}
    case = o["case"]
    if case in ("ca_path", "reconnect"):
        opts["ca"] = o["ca"]
    elif case == "ca_bytes":
        with open(o["ca"], "rb") as f:
            opts["ca"] = f.read()
    elif case == "unverified":
        opts["verify"] = False
    return opts


def _until(em, cond, ms):
    t0 = time.ticks_ms()
    while not cond():
        if time.ticks_diff(time.ticks_ms(), t0) > ms:
            return False
        em.loop(20)
    return True


def _texts(msgs):
    return [m.asString() for m in msgs]


def run(o):
    if o["case"] == "reconnect":
        return reconnect(o)
    try:
        em = emitter_micro.connect(_options(o))
    except Exception as e:
        return "ERROR %s: %s" % (type(e).__name__, " ".join(str(e).split()))
    key, ch = o["key"], o["channel"]
    got = []
    em.subscribe(key, ch, handler=got.append)
    em.publish(key, ch, "over tls", qos=1)
    if not _until(em, lambda: got, 5000):
        return "NO ECHO %r" % em.connected
    t0 = time.ticks_ms()
    em.loop(300)  # an idle wait: on MicroPython a TLS read that times out breaks the socket
    idle = time.ticks_diff(time.ticks_ms(), t0)
    if not em.connected or idle < 250:
        return "BROKEN BY AN IDLE WAIT %r %d ms" % (em.connected, idle)
    for i in range(3):  # loop() over TLS: waits, non-blocking reads and ack waits on the TLS socket
        em.publish(key, ch, "e%d" % i)
        em.loop(0)
        em.loop(50)
    _until(em, lambda: len(got) >= 4, 5000)
    if _texts(got) != ["over tls", "e0", "e1", "e2"] or not em.connected:
        return "BROKEN LOOP %r %r" % (_texts(got), em.connected)
    em.disconnect()
    return "CONNECTED"


def reconnect(o):
    from bs_util import Env, set_toxicity, toxic, untoxic
    env = Env(o)
    key, ch = o["key"], o["channel"]
    # reset_peer makes the close an RST only on connections made while it is on the proxy: armed at toxicity 0.
    name = toxic(env, "reset_peer", "upstream", toxicity=0.0, timeout=0)
    opts = _options(o)
    opts.update(reconnect=True, backoff_ms=(50, 200))
    em = emitter_micro.Emitter(opts)
    ups, errors, got = [], [], []
    em.on("connect", lambda: ups.append(1))
    em.on("error", lambda e: errors.append(e["message"]))
    try:
        em.connect()
        ctx = em._tls
        em.subscribe(key, ch, handler=got.append)
        set_toxicity(env, name, 1.0)
        em.publish(key, ch, "met the reset", qos=1)  # queued, not raised
        if not _until(em, lambda: not em.connected, 3000):
            return "NOT DROPPED"
        untoxic(env, name)
        if not _until(em, lambda: em.connected, 5000):
            return "NOT RECONNECTED %r" % errors
        em.flush(5000)
        em.publish(key, ch, "after")
        _until(em, lambda: len(got) >= 2, 5000)
        out = "RECONNECTED same_context=%s connects=%d got=%r dropped_by=%s" % (
            em._tls is ctx, len(ups), _texts(got), errors[0] if errors else None)
        em.disconnect()
    finally:
        untoxic(env)
    bad_errors = []
    opts["ca"] = o["wrong_ca"]
    bad = emitter_micro.Emitter(opts)
    bad.on("error", lambda e: bad_errors.append(e["message"]))
    bad.connect()  # reconnect on: a refused handshake is reported, not raised
    return out + " | WRONG_CA connected=%s error=%s" % (bad.connected, bad_errors[0] if bad_errors else None)


if __name__ == "__main__":
    print("RESULT " + run(json.loads(os.getenv("TLS_CLIENT"))))
