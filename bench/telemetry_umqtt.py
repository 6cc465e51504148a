# bench/telemetry.py's loop on raw umqtt.simple, for the smallest -X heapsize it runs in (bench/run.py).
# usage: micropython -X heapsize=N -m telemetry_umqtt LOOP HOST PORT KEY   (LOOP: pub or rx)
# 1,000 publishes (QoS 0, every 100th QoS 1), check_msg() after each. rx: also subscribed to the
# channel that every 10th publish goes to, its messages handled by the callback; all 100 must come back.
# pub sets no callback: a message from the broker (an error on emitter/error/) makes check_msg() raise.
import sys
import time

from umqtt.simple import MQTTClient

LOOP, HOST, PORT, KEY = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
PAY = b'{"seq": 1, "temp_c": 21.5}'
got, bad = [0], [0]


def on_message(topic, msg):
    if topic == b"bench/heap/raw/cmd/" and msg == PAY:
        got[0] += 1
    else:
        bad[0] += 1  # an error from the broker arrives on emitter/error/


c = MQTTClient(b"bench-heap-raw", HOST, PORT)
rx = LOOP == "rx"
if rx:
    c.set_callback(on_message)
c.connect()
telemetry = (KEY + "/bench/heap/raw/").encode()
command = (KEY + "/bench/heap/raw/cmd/").encode()
if rx:
    c.subscribe(command)
for i in range(1000):
    c.publish(command if rx and i % 10 == 0 else telemetry, PAY, False, 0 if i % 100 else 1)
    c.check_msg()
want = 100 if rx else 0
end = time.ticks_add(time.ticks_ms(), 5000)
while got[0] < want and time.ticks_diff(end, time.ticks_ms()) > 0:
    if c.check_msg() is None:
        time.sleep_ms(20)
time.sleep_ms(100)  # an answer from the broker (an error) would come now
while c.check_msg() is not None:
    pass
ok = got[0] == want and not bad[0]
print("RESULT %d %d %d - %s" % (ok, got[0], bad[0], sys.modules["umqtt.simple"].__file__))
