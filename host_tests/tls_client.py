# A device-side TLS check, run under the MicroPython unix port (and in-process under CPython).
# usage: micropython host_tests/tls_client.py PORT CASE CA_DER_PATH
import sys

import emitter_micro


def run(port, case, ca_path):
    o = {"host": "127.0.0.1", "port": port, "secure": True, "timeout": 3, "reconnect": False}
    if case == "ca_path":
        o["ca"] = ca_path
    elif case == "ca_bytes":
        with open(ca_path, "rb") as f:
            o["ca"] = f.read()
    elif case == "unverified":
        o["verify"] = False
    try:
        em = emitter_micro.connect(o)
    except Exception as e:
        return "ERROR %s: %s" % (type(e).__name__, " ".join(str(e).split()))
    got = []
    em.subscribe("KEY-tls", "echo/", handler=got.append)
    em.publish("KEY-tls", "secure/", "over tls", qos=1)
    em.loop(100)  # an idle wait: on MicroPython a TLS read that times out breaks the socket for good
    if not em.connected:
        return "BROKEN BY AN IDLE WAIT"
    for i in range(3):  # loop() over TLS: waits, non-blocking reads and ack waits on the TLS socket
        em.publish("KEY-tls", "echo/", "e%d" % i)
        em.loop(0)
        em.loop(50)
    for i in range(60):  # the peer's thread may be slow on a loaded machine
        if len(got) >= 3:
            break
        em.loop(50)
    if [m.asString() for m in got] != ["e0", "e1", "e2"] or not em.connected:
        return "BROKEN LOOP %r %r" % ([m.binary for m in got], em.connected)
    em.disconnect()
    return "CONNECTED"


if __name__ == "__main__":
    print("RESULT " + run(int(sys.argv[1]), sys.argv[2], sys.argv[3]))
