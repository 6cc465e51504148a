# mqtt_as 0.8.3's side of the asyncio heap row (bench/aio_heap.py; emitter_micro.aio's twin is
# bench/aio_heap_loop_em.py): connect, 1,000 publishes of a 40-byte reading at QoS 0, then one at QoS 1
# (returns once acked), to the real broker. Run as .mpy with -m from a folder that holds only it (and
# mqtt_as's .mpy and the stand-ins' where those are measured); mqtt_as is measured here, never shipped.
# usage: micropython -X heapsize=N -m aio_heap_loop_mqttas HOST PORT KEY CHANNEL [steps]
# steps: print gc.mem_alloc() after each phase (a gc.collect() before each; not in the heap runs).
import sys

import asyncio

STEPS = len(sys.argv) > 5


def step(name):
    if STEPS:
        import gc
        gc.collect()
        print("STEP %s %d" % (name, gc.mem_alloc()))


step("asyncio")
import mqttas_standins  # noqa: E402  network.WLAN (always connected), machine.unique_id: the unix port has neither

sys.modules["network"] = mqttas_standins
sys.modules["machine"] = mqttas_standins
step("standins")
from mqtt_as import MQTTClient, config  # noqa: E402

step("mqtt_as")
HOST, PORT, KEY, CHANNEL = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
READING = b'{"seq": 100, "temp_c": 21.5, "rh": 48.2}'
seen = [0, 0]  # connections made, messages from the broker (an Emitter error comes as one)


async def up(client):  # mqtt_as's connect_coro: once per connection
    seen[0] += 1


def got(topic, msg, retained):
    seen[1] += 1


def fail(loop, context):  # a task ended by an exception nobody awaits (MemoryError): the run fails now
    sys.exit(3)


async def main():
    asyncio.get_event_loop().set_exception_handler(fail)
    config["server"] = HOST
    config["port"] = PORT
    config["connect_coro"] = up
    config["subs_cb"] = got
    config["response_time"] = 5  # a lost PUBACK fails the run in 25 s, not 50 (republished 4 times)
    client = MQTTClient(config)
    await client.connect(quick=True)  # quick: no 5 s WiFi steadiness check (a stand-in WLAN)
    step("connect")
    topic = ("%s/%s" % (KEY, CHANNEL)).encode()
    n = 0
    for _ in range(1000):
        await client.publish(topic, READING)
        n += 1
    step("1000 qos0")
    await client.publish(topic, READING, qos=1)  # returns once acked (a repub or reconnect is seen below)
    await asyncio.sleep_ms(100)  # an answer from the broker (an error) would come now
    step("qos1 acked")
    ok = seen[0] == 1 and not seen[1] and not client.REPUB_COUNT and client.isconnected()
    # ok, QoS 0 publishes made, connections, messages from the broker, republished QoS 1
    result = "RESULT %d %d %d %d %d" % (ok, n, seen[0], seen[1], client.REPUB_COUNT)
    await client.disconnect()
    print(result)
    for name in ("mqtt_as", "asyncio", "mqttas_standins"):
        print("FILE %s %s" % (name, sys.modules[name].__file__))
    return ok


sys.exit(0 if asyncio.run(main()) else 1)  # exit 0 only when the run passed
