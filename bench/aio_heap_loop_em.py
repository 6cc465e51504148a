# emitter_micro.aio's side of the asyncio heap row (bench/aio_heap.py; mqtt_as's twin is
# bench/aio_heap_loop_mqttas.py): connect, 1,000 publishes of a 40-byte reading at QoS 0, then one at
# QoS 1 (returns once acked), to the real broker. Run as .mpy with -m from a folder that holds only it
# (and emitter_micro's .mpy files where those are measured).
# usage: micropython -X heapsize=N -m aio_heap_loop_em HOST PORT KEY CHANNEL [steps]
# steps: print gc.mem_alloc() after each phase and each module's import (a gc.collect() before each;
# not in the heap runs).
import sys

import asyncio

STEPS = len(sys.argv) > 5


def step(name):
    if STEPS:
        import gc
        gc.collect()
        print("STEP %s %d" % (name, gc.mem_alloc()))


step("asyncio")
if STEPS:  # one module at a time, each after those it imports (tools/import_graph.py)
    for m in ("emitter_micro", "emitter_micro.topic", "emitter_micro.mqtt", "emitter_micro.parser",
              "emitter_micro.core", "emitter_micro.aiosend"):
        __import__(m)
        step(m)
from emitter_micro import aio  # noqa: E402

step("emitter_micro.aio")
HOST, PORT, KEY, CHANNEL = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
READING = b'{"seq": 100, "temp_c": 21.5, "rh": 48.2}'
seen = [0, 0]  # errors from the broker, disconnects


def on_error(e):
    seen[0] += 1


def on_down():
    seen[1] += 1


def fail(loop, context):  # a task ended by an exception nobody awaits (MemoryError): the run fails now
    sys.exit(3)


async def main():
    asyncio.get_event_loop().set_exception_handler(fail)
    em = await aio.connect({"host": HOST, "port": PORT, "secure": False, "timeout": 5})
    em.on("error", on_error)
    em.on("disconnect", on_down)
    step("connect")
    n = 0
    for _ in range(1000):
        await em.publish(KEY, CHANNEL, READING)
        n += 1
    step("1000 qos0")
    await em.publish(KEY, CHANNEL, READING, qos=1)  # returns once acked (or queued: the link went, seen below)
    await asyncio.sleep_ms(100)  # an answer from the broker (an error) would come now
    step("qos1 acked")
    ok = em.connected and not em.dropped and not em.pending() and not seen[0] and not seen[1]
    # ok, QoS 0 publishes made, errors from the broker, disconnects, dropped publishes
    result = "RESULT %d %d %d %d %d" % (ok, n, seen[0], seen[1], em.dropped)
    await em.disconnect()
    print(result)
    for name in sys.modules:
        if name.startswith("emitter_micro") or name == "asyncio":
            print("FILE %s %s" % (name, sys.modules[name].__file__))
    return ok


sys.exit(0 if asyncio.run(main()) else 1)  # exit 0 only when the run passed
