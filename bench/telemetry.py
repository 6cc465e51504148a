# The telemetry loop on its own, for the smallest -X heapsize it runs in (bench/run.py): a script
# this small keeps the measuring code out of the heap being measured.
# usage: micropython -X heapsize=N -m telemetry HOST PORT KEY N   -> prints "RESULT <json>"
import sys
import time

import emitter_micro

n = int(sys.argv[4])
em = emitter_micro.connect({"host": sys.argv[1], "port": int(sys.argv[2]), "secure": False, "timeout": 5})
key = sys.argv[3]
got = [0]
errors = []


def on_reading(m):
    got[0] += 1


em.on("error", errors.append)
em.subscribe(key, "bench/telemetry/", handler=on_reading)
for seq in range(1, n + 1):
    em.publish(key, "bench/telemetry/", {"seq": seq, "uptime_ms": time.ticks_ms(), "temp_c": 21.5})
    em.loop(0)
end = time.ticks_add(time.ticks_ms(), 5000)
while got[0] < n and time.ticks_diff(end, time.ticks_ms()) > 0:
    em.loop(20)
print('RESULT {"ok": %s, "published": %d, "received": %d, "errors": %d}'
      % ("true" if got[0] == n and not errors else "false", n, got[0], len(errors)))
