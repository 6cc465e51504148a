# emitter_micro's telemetry loop, for the smallest -X heapsize it runs in (bench/run.py; raw
# umqtt.simple's twin is bench/telemetry_umqtt.py). It runs as .mpy with -m from a folder that holds
# only it (and emitter_micro's .mpy files when those are measured): nothing else in the heap.
# usage: micropython -X heapsize=N -m telemetry LOOP HOST PORT KEY   (LOOP: pub or rx)
# 1,000 publishes (QoS 0, every 100th QoS 1), loop(0) after each. rx: also subscribed to the channel
# that every 10th publish goes to, its messages handled by a handler; all 100 must come back.
import sys
import time

import emitter_micro

LOOP, HOST, PORT, KEY = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
PAY = b'{"seq": 1, "temp_c": 21.5}'
got, bad = [0], [0]


def on_error(e):
    bad[0] += 1


def on_command(m):
    if m.binary == PAY:
        got[0] += 1
    else:
        bad[0] += 1


em = emitter_micro.connect({"host": HOST, "port": PORT, "secure": False, "timeout": 5})
em.on("error", on_error)
rx = LOOP == "rx"
if rx:
    em.subscribe(KEY, "bench/heap/em/cmd/", handler=on_command)
for i in range(1000):
    em.publish(KEY, "bench/heap/em/cmd/" if rx and i % 10 == 0 else "bench/heap/em/", PAY, qos=0 if i % 100 else 1)
    em.loop(0)
want = 100 if rx else 0
end = time.ticks_add(time.ticks_ms(), 5000)
while got[0] < want and time.ticks_diff(end, time.ticks_ms()) > 0:
    em.loop(20)
em.loop(100)  # an answer from the broker (an error) would come now
ok = got[0] == want and not bad[0] and em.connected and not em.dropped
print("RESULT %d %d %d %s %s" % (ok, got[0], bad[0], emitter_micro.__file__, sys.modules["umqtt.simple"].__file__))
