# The device side of bench/store_rate.py: QoS 1 publishes of 64 B, one at a time (each waits for its
# PUBACK), with the store or without it, timed; run under the MicroPython unix port or frozen32.
# usage: micropython store_device.py HOST PORT KEY CLIENT STORE N ROUNDS PAUSE_MS DIR  -> "RESULT <json>"
#   CLIENT: sync | aio; STORE: none | lfs (littlefs v2 on a RAM block device, as a board formats its
#   flash; host_tests/store/blockfile.py on MICROPYPATH) | fs (the host's filesystem, in DIR).
# PAUSE_MS before each timed run lets the broker's per-connection write allowance (limit.flushRate) fill.
import json
import sys
import time

HOST, PORT, KEY, CLIENT, STORE = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
N, ROUNDS, PAUSE_MS, DIR = int(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8]), sys.argv[9]
MSG = b"x" * 64
CHANNEL = "bench/store/"


def options():
    o = {"host": HOST, "port": PORT, "secure": False, "timeout": 5, "client_id": "bench-store-" + CLIENT}
    if STORE == "lfs":
        import blockfile
        o["store"] = blockfile.mount(blockfile.Flash(None, 64), "/flash") + "/q"
    elif STORE == "fs":
        o["store"] = DIR + "/q"
    return o


def report(em, rates, errors):
    import emitter_micro
    s = em._store
    print("RESULT " + json.dumps({
        "rates": rates, "errors": [str(e) for e in errors], "left": s.size if s else 0,
        "store": "emitter_micro.store" in sys.modules,
        "files": [getattr(sys.modules[n], "__file__", "-") for n in sorted(sys.modules) if n.startswith("emitter_micro")],
        "frozen": not getattr(emitter_micro, "__file__", "/").startswith("/")}))


def sync():
    import emitter_micro
    errors = []
    em = emitter_micro.Emitter(options())
    em.on("error", errors.append)
    em.connect()
    rates = []
    for _ in range(ROUNDS):
        time.sleep_ms(PAUSE_MS)
        em.loop(0)
        t0 = time.ticks_us()
        for _ in range(N):
            em.publish(KEY, CHANNEL, MSG, qos=1)
        rates.append(N * 1000000 / time.ticks_diff(time.ticks_us(), t0))
    em.loop(200)
    report(em, rates, errors)
    em.disconnect()


async def aio():
    import asyncio
    from emitter_micro import aio
    errors = []
    em = aio.Emitter(options())
    em.on("error", errors.append)
    await em.connect()
    rates = []
    for _ in range(ROUNDS):
        await asyncio.sleep_ms(PAUSE_MS)
        t0 = time.ticks_us()
        for _ in range(N):
            await em.publish(KEY, CHANNEL, MSG, qos=1)
        rates.append(N * 1000000 / time.ticks_diff(time.ticks_us(), t0))
    await asyncio.sleep_ms(200)
    report(em, rates, errors)
    await em.disconnect()


if CLIENT == "aio":
    import asyncio
    asyncio.run(aio())
else:
    sync()
