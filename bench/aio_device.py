# The asyncio front-end's footprint, under the MicroPython unix port; bench/aio.py starts it.
# usage: micropython bench/aio_device.py HOST PORT KEY   -> prints "RESULT <json>"
import gc
import json
import sys

import asyncio  # part of the firmware on a board: not counted below

HOST, PORT, KEY = sys.argv[1], int(sys.argv[2]), sys.argv[3]
PAYLOAD = b"x" * 32
N = 50


def used():
    gc.collect()
    return gc.mem_alloc()


async def per_publish(em, qos):
    """Heap bytes allocated per publish (the link's tasks included), gc off while counting."""
    for _ in range(5):
        await em.publish(KEY, "bench/aio/", PAYLOAD, qos=qos)
    await asyncio.sleep(0.05)
    gc.collect()
    gc.disable()
    a0 = gc.mem_alloc()
    for _ in range(N):
        await em.publish(KEY, "bench/aio/", PAYLOAD, qos=qos)
    a1 = gc.mem_alloc()
    gc.enable()
    return (a1 - a0) / N


async def main(r, base):
    from emitter_micro import aio
    r["after_import_aio"] = used() - base
    em = await aio.connect({"host": HOST, "port": PORT, "secure": False, "timeout": 5})
    r["after_connect"] = used() - base
    await em.subscribe(KEY, "bench/echo/")
    await em.publish(KEY, "bench/echo/", PAYLOAD, qos=1)
    r["after_subscribe_publish"] = used() - base
    r["alloc_per_qos0_publish"] = await per_publish(em, 0)
    r["alloc_per_qos1_publish"] = await per_publish(em, 1)
    r["modules"] = sorted(m for m in sys.modules if m.startswith("emitter_micro"))
    r["files"] = [getattr(sys.modules[m], "__file__", "") for m in r["modules"]]
    await em.disconnect()


r = {}
base = used()
import emitter_micro  # noqa: E402
r["after_import_sync"] = used() - base
asyncio.run(main(r, base))
print("RESULT " + json.dumps(r))
