"""Connecting, events, publish and subscribe of emitter_micro against the real Emitter broker.

Run by host_tests/pubsub/test_pubsub_broker.py: in-process under CPython (shim sockets)
and under the MicroPython unix port (run_case.py).  env: see bs_util.Env and
the driver.  Channels carry env.run so stored messages of other runs never
show up.  Behaviour relied on: /work/shared/emitter-protocol.md.
The request calls (keygen, presence, me, keyban, link, history), share
groups, the last will and the error paths are in bs_requests.py.
"""
import json
import sys
import time

import emitter_micro
from bs_util import as_env, client, close, options, payloads, raises, settle, uid, wait_for


def case_smoke_connect_publish_receive(env):
    """The smoke case (test_mpy.py runs it from the .mpy build too): connect with a client id,
    keepalive and username, subscribe, publish at QoS 0 and 1, receive, a request."""
    env = as_env(env)
    k = env.keys["test"]
    ch = "test/%s/smoke/" % uid(env, "r")
    em = emitter_micro.Emitter(options(env, client_id="dev-" + env.run, keepalive=25, username="sensor"))
    assert em.connect() is em and em.connected and em.keepalive == 25
    got = []
    em.on("message", got.append)
    em.subscribe(k, ch)
    em.publish(k, ch, "21.5")
    em.publish(k, ch[:-1], b"22.0", qos=1)
    wait_for(em, lambda: len(got) >= 2, "both publishes back")
    assert [m.channel for m in got] == [ch, ch] and [m.asString() for m in got] == ["21.5", "22.0"]
    ans = em.presence(k, ch, changes=False, timeout_ms=5000)
    assert "sensor" in [w.get("username") for w in ans["who"]], ans
    em.disconnect()
    assert not em.connected


def case_fields_set_when_made(env):
    """Every field of the client is set when it is made: one added later would grow the instance's
    attribute table by copying it, in the middle of a publish or a receive, when the heap is fullest. And
    a publish-only device loads neither subscriptions.py (EmitterMessage), nor the calls it never makes (calls.py), nor the
    receive side (where the run is fresh: each case's own process on MicroPython)."""
    env = as_env(env)
    k = env.keys["test"]
    ch = "test/%s/fields/" % uid(env, "r")
    fresh = not [n for n in sys.modules if n in ("emitter_micro.subscriptions", "emitter_micro.parser", "emitter_micro.calls")]
    em = emitter_micro.Emitter(options(env))
    made = sorted(em.__dict__)
    em.connect()
    em.publish(k, ch, "a")
    em.publish(k, ch, "b", qos=1)
    em.loop(10)
    loaded = [n for n in ("emitter_micro.calls", "emitter_micro.receive", "emitter_micro.parser",
                          "emitter_micro.subscriptions", "emitter_micro.resilience") if n in sys.modules]
    assert not (fresh and loaded), loaded
    try:
        em.no_such_call
        raise AssertionError("an unknown attribute answered")
    except AttributeError:
        pass  # what the class of the calls loaded on first use does not have either
    got = []
    em.subscribe(k, ch, handler=got.append)
    em.publish(k, ch, "c")
    wait_for(em, lambda: got, "the message back")
    assert em.me(timeout_ms=5000)["status"] == 200
    em.unsubscribe(k, ch)
    em.disconnect()
    assert sorted(em.__dict__) == made, sorted(set(em.__dict__) ^ set(made))


def case_connect_events_and_disconnect(env):
    env = as_env(env)
    seen = []
    # Emitter(options).connect() with handlers registered first.
    em = emitter_micro.Emitter(options(env, client_id="bs-connect-" + env.run, username="alice"))
    em.on("connect", lambda: seen.append("connect"))
    em.on("disconnect", lambda: seen.append("disconnect"))
    assert em.connect() is em
    assert em.connected and seen == ["connect"], seen
    # emitter_micro.connect(): the connect event waits for a handler, delivered by loop().
    em2 = emitter_micro.connect(options(env))
    assert isinstance(em2, emitter_micro.Emitter) and em2.connected
    late = []
    em2.on("connect", lambda: late.append(1))
    em2.loop()
    assert late == [1]
    # The link works: a round trip through the broker.
    got = []
    ch = "test/%s/conn/" % uid(env, "r")
    em.subscribe(env.keys["test"], ch, handler=got.append)
    em2.publish(env.keys["test"], ch, "hello")
    wait_for([em, em2], lambda: got, "message through the broker")
    assert got[0].channel == ch and got[0].asString() == "hello"
    # Nothing queued on a live link: flush() has nothing to do.
    em2.publish(env.keys["test"], ch, "q", qos=1)
    assert em2.pending() == 0 and em2.flush(1000) is True and em2.dropped == 0
    em.disconnect()
    assert not em.connected and seen == ["connect", "disconnect"], seen
    assert em.loop(50) == 0  # nothing raises after a clean disconnect
    em2.disconnect()


def case_publish_payload_types(env):
    env = as_env(env)
    em = client(env)
    ch = "test/%s/types/" % uid(env, "r")
    got = []
    em.subscribe(env.keys["test"], ch, handler=got.append)
    k = env.keys["test"]
    em.publish(k, ch, "text \u00e9")
    em.publish(k, ch, b"\x00\x01bytes")
    em.publish(k, ch, bytearray(b"array"))
    em.publish(k, ch, memoryview(b"xxviewxx")[2:6])
    em.publish(k, ch, {"t": 21.5, "ok": True})
    em.publish(k, ch[:-1], "no trailing slash")  # the client adds the '/'
    em.publish(k, ch, [1, 2])
    em.publish(k, ch, b"\xff\x00")
    wait_for(em, lambda: len(got) >= 8, "8 echoed messages")
    p = payloads(got)
    assert p[0] == "text \u00e9".encode() and got[0].asString() == "text \u00e9", p[0]
    assert p[1] == b"\x00\x01bytes" and p[2] == b"array" and p[3] == b"view", p[1:4]
    assert got[4].asObject() == {"t": 21.5, "ok": True}, p[4]
    assert p[5] == b"no trailing slash"
    assert got[6].asObject() == [1, 2], p[6]
    m = got[7]  # not UTF-8: asString() and asObject() refuse it, asBinary() gives it as it came
    raises(ValueError, m.asString)
    raises(ValueError, m.asObject)
    assert m.asBinary() == m.binary == b"\xff\x00"
    assert all(m.channel == ch for m in got), [m.channel for m in got]
    close(em)


def case_ttl_stored_then_replayed_before_suback(env):
    env = as_env(env)
    k = env.keys["test"]
    ch = "test/%s/store/" % uid(env, "r")
    pub = client(env)
    for i in range(3):
        pub.publish(k, ch, "stored-%d" % i, ttl=120, qos=1)  # PUBACK: the broker has it
    pub.publish(k, ch, "not-stored", qos=1)
    sub = client(env)
    got = []
    sub.on("message", got.append)
    # last=3: the three stored ones replay BEFORE the SUBACK, so subscribe() has dispatched them.
    sub.subscribe(k, ch, last=3)
    assert sorted(payloads(got)) == [b"stored-0", b"stored-1", b"stored-2"], payloads(got)
    # A plain subscribe replays one stored message.
    one = []
    sub2 = client(env, {"message": one.append})
    sub2.subscribe(k, ch)
    assert len(one) == 1 and one[0].binary.startswith(b"stored-"), payloads(one)
    settle([sub, sub2], 200)
    assert len(got) == 3 and len(one) == 1, (payloads(got), payloads(one))
    close(pub, sub, sub2)


def case_qos1_and_retain(env):
    env = as_env(env)
    k = env.keys["test"]
    ch = "test/%s/retain/" % uid(env, "r")
    pub = client(env)
    echo = []
    pub.subscribe(k, ch, handler=echo.append)
    t0 = time.ticks_ms()
    pub.publish(k, ch, "q1", qos=1)  # returns once the PUBACK is in
    print("qos1 publish round trip: %d ms" % time.ticks_diff(time.ticks_ms(), t0))
    wait_for(pub, lambda: echo, "echo of the QoS 1 publish")
    assert echo[0].binary == b"q1"
    pub.publish(k, ch, "kept", retain=True, qos=1)
    late = []
    sub = client(env)
    sub.subscribe(k, ch, handler=late.append)
    # The retained message comes before the SUBACK.
    assert b"kept" in payloads(late), payloads(late)
    close(pub, sub)


def case_me_false_gets_no_echo(env):
    env = as_env(env)
    k = env.keys["test"]
    ch = "test/%s/echo/" % uid(env, "r")
    em = client(env)
    got = []
    em.subscribe(k, ch, handler=got.append)
    em.publish(k, ch, "hidden", me=False)
    em.publish(k, ch, "hidden-q1", me=False, qos=1, ttl=120)  # both options in one topic
    em.publish(k, ch, "shown")
    wait_for(em, lambda: b"shown" in payloads(got), "the echo of 'shown'")
    settle(em, 300)
    assert payloads(got) == [b"shown"], payloads(got)
    # Another subscriber does get the me=False publishes.
    other = []
    em2 = client(env)
    em2.subscribe(k, ch, handler=other.append)
    del other[:]  # whatever was replayed
    em.publish(k, ch, "for-others", me=False)
    wait_for([em, em2], lambda: b"for-others" in payloads(other), "me=False publish at another client")
    assert b"for-others" not in payloads(got)
    # The ttl beside me=0 took effect too: the message was stored.
    late = []
    em3 = client(env)
    em3.subscribe(k, ch, last=5, handler=late.append)
    assert b"hidden-q1" in payloads(late) and b"hidden" not in payloads(late), payloads(late)
    close(em, em2, em3)


def case_subscribe_since_until(env):
    env = as_env(env)
    k = env.keys["test"]
    ch = "test/%s/window/" % uid(env, "r")
    pub = client(env)
    pub.publish(k, ch, "w1", ttl=120, qos=1)
    pub.publish(k, ch, "w2", ttl=120, qos=1)
    now = int(time.time())
    inside, outside = [], []
    a = client(env)
    a.subscribe(k, ch, last=10, since=now - 120, until=now + 120, handler=inside.append)
    assert sorted(payloads(inside)) == [b"w1", b"w2"], payloads(inside)
    b = client(env)
    b.subscribe(k, ch, last=10, since=now - 7200, until=now - 3600, handler=outside.append)
    settle([a, b], 300)
    assert outside == [], payloads(outside)
    # Both still get live messages.
    pub.publish(k, ch, "live")
    wait_for([a, b, pub], lambda: b"live" in payloads(inside) and b"live" in payloads(outside), "live message")
    close(pub, a, b)


def case_handler_routing(env):
    env = as_env(env)
    k = env.keys["test"]
    base = "test/%s/" % uid(env, "r")
    em = client(env)
    temps, deep, default = [], [], []
    em.on("message", default.append)
    em.subscribe(k, base + "route/+/temp/", handler=temps.append)
    em.subscribe(k, base + "tree/", handler=deep.append)
    em.subscribe(k, base + "plain/")
    em.subscribe(k, base + "tree2/")  # shares "tree" with tree/: its messages are not tree/'s
    em.publish(k, base + "route/a/temp/", "ta")
    em.publish(k, base + "route/b/temp/", "tb")
    em.publish(k, base + "tree/x/y/", "deep")
    em.publish(k, base + "tree/", "top")
    em.publish(k, base + "plain/", "p")
    em.publish(k, base + "tree2/x/", "sibling")
    em.publish(k, base + "route/a/hum/", "not-temp")  # matches no subscription: never arrives
    wait_for(em, lambda: len(temps) + len(deep) + len(default) >= 6, "6 routed messages")
    settle(em, 200)
    assert sorted(payloads(temps)) == [b"ta", b"tb"], payloads(temps)
    assert sorted(payloads(deep)) == [b"deep", b"top"], payloads(deep)
    assert payloads(default) == [b"p", b"sibling"], payloads(default)
    assert sorted(m.channel for m in temps) == [base + "route/a/temp/", base + "route/b/temp/"]
    assert base + "tree/x/y/" in [m.channel for m in deep]
    # tree/ unsubscribed, its messages come through the parent subscription: to the default handler.
    em.unsubscribe(k, base + "tree/")
    em.subscribe(k, base)
    em.publish(k, base + "tree/", "after")
    wait_for(em, lambda: len(default) >= 3, "the message on tree/ at the default handler")
    assert payloads(default)[-1] == b"after" and len(deep) == 2, (payloads(default), payloads(deep))
    close(em)


def case_unsubscribe_stops_messages(env):
    env = as_env(env)
    k = env.keys["test"]
    ch = "test/%s/unsub/" % uid(env, "r")
    em = client(env)
    pub = client(env)
    got = []
    em.subscribe(k, ch, last=1, handler=got.append)  # unsubscribed below without the option
    pub.publish(k, ch, "before")
    wait_for([em, pub], lambda: got, "message before unsubscribe")
    em.unsubscribe(k, ch)
    pub.publish(k, ch, "after", qos=1)
    settle([em, pub], 500)
    assert payloads(got) == [b"before"], payloads(got)
    # Unsubscribing what is not subscribed does not break the link.
    em.unsubscribe(k, ch)
    assert em.connected
    close(em, pub)


def case_tls(env):
    env = as_env(env)
    k = env.keys["test"]
    ch = "test/%s/tls/" % uid(env, "r")
    # A name in the certificate (SAN DNS:localhost), resolving to the broker's 127.0.0.1.
    o = {"host": env.get("tls_host", "localhost"), "port": env.tls_port, "secure": True, "ca": env.ca_der, "timeout": 5,
         "reconnect": False}
    em = emitter_micro.Emitter(o).connect()
    assert em.connected
    got = []
    em.subscribe(k, ch, handler=got.append)
    em.publish(k, ch, "over tls", qos=1)
    wait_for(em, lambda: got, "message over TLS")
    assert got[0].binary == b"over tls"
    assert em.me(timeout_ms=5000)["status"] == 200
    close(em)
    o2 = dict(o, verify=False)
    del o2["ca"]
    em2 = emitter_micro.Emitter(o2).connect()
    assert em2.connected
    close(em2)


def case_payload_json_roundtrip_from_other_client(env):
    env = as_env(env)
    k = env.keys["test"]
    ch = "test/%s/json/" % uid(env, "r")
    a = client(env)
    b = client(env)
    got = []
    b.subscribe(k, ch, handler=got.append)
    body = {"seq": 1, "vals": [1, 2, 3], "name": "x"}
    a.publish(k, ch, body, qos=1)
    wait_for([a, b], lambda: got, "JSON message")
    assert got[0].asObject() == body and json.loads(got[0].asString()) == body
    close(a, b)
