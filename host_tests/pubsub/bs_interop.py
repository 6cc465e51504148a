"""Interop with the official CPython Emitter SDK (pip emitter-io, paho-based): CPython only."""
CPYTHON_ONLY = True

import threading  # noqa: E402
import time  # noqa: E402

from bs_util import as_env, client, close, uid, wait_for  # noqa: E402


def case_official_sdk_both_ways(env):
    import emitter  # the official SDK: module `emitter`, class emitter.Client

    env = as_env(env)
    k = env.keys["test"]
    device_ch = "test/%s/device/" % uid(env, "r")
    cloud_ch = "test/%s/cloud/" % uid(env, "r")
    lock = threading.Lock()
    sdk_got, connected = [], threading.Event()

    def on_message(m):  # emitter.EmitterMessage: .channel, .binary (as_string() gives str(bytes))
        with lock:
            sdk_got.append((m.channel, bytes(m.binary)))

    sdk = emitter.Client()
    sdk.on_connect = connected.set
    sdk.on_message = on_message
    sdk.connect(host=env.host, port=env.port, secure=False, keepalive=30)
    sdk.loop_start()
    dev = None
    try:
        assert connected.wait(5), "the official SDK did not connect"
        sdk.subscribe(k, device_ch)
        dev = client(env)
        dev_got = []
        dev.subscribe(k, cloud_ch, handler=dev_got.append)
        # emitter_micro -> SDK. The SDK's SUBSCRIBE is asynchronous: publish until it arrives.
        t0 = time.monotonic()
        n = 0
        while not sdk_got:
            assert time.monotonic() - t0 < 5, "the SDK got nothing from emitter_micro"
            n += 1
            dev.publish(k, device_ch, {"from": "emitter_micro", "n": n}, qos=1)
            dev.loop(100)
        with lock:
            ch, body = sdk_got[0]
        assert ch == device_ch, ch
        assert b'"from": "emitter_micro"' in body or b'"from":"emitter_micro"' in body, body
        dev.publish(k, device_ch, b"\x00raw\xff", qos=1)
        wait_for(dev, lambda: any(b == b"\x00raw\xff" for _, b in list(sdk_got)), "binary at the SDK")
        # SDK -> emitter_micro, with its options (ttl) and QoS 1.
        # A list, QoS first: the SDK joins options with '&' and would leave a trailing one after '+1'.
        sdk.publish(k, cloud_ch, '{"cmd": "blink"}', [emitter.Client.with_at_least_once(), emitter.Client.with_ttl(60)])
        wait_for(dev, lambda: dev_got, "the SDK's message at emitter_micro")
        assert dev_got[0].channel == cloud_ch and dev_got[0].asObject() == {"cmd": "blink"}, dev_got[0].binary
        # Stored by the SDK with ttl, replayed to a fresh emitter_micro subscriber.
        late = []
        dev2 = client(env)
        dev2.subscribe(k, cloud_ch, last=1, handler=late.append)
        assert late and late[0].asObject() == {"cmd": "blink"}, [m.binary for m in late]
        close(dev2)
    finally:
        if dev is not None:
            close(dev)
        sdk.loop_stop()
        sdk.disconnect()
