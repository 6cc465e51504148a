"""Core API scenarios on the in-process fake socket (fast unit tests, both runtimes)."""
import json

import emitter_micro
from fakepeer import KEY, client, install, publish, raises



def test_smoke_connect_publish_receive():
    em, peer = client({"client_id": "dev-1", "keepalive": 25, "username": "sensor"})
    assert em.connected
    c = peer.sent[0]
    assert c.kind == 0x10
    assert b"dev-1" in c.body and b"sensor" in c.body
    assert c.body[8] << 8 | c.body[9] == 25  # keepalive in the CONNECT header
    got = []
    em.on("message", got.append)
    em.subscribe(KEY, "sensors/temp")
    em.publish(KEY, "sensors/temp", "21.5")
    assert peer.of(0x30)[-1].topic() == (KEY + "/sensors/temp/").encode()
    assert em.loop() == 1
    assert got[0].channel == "sensors/temp/"
    assert got[0].asString() == "21.5"


def test_module_connect_returns_emitter():
    install()
    em = emitter_micro.connect({"host": "127.0.0.1", "secure": False, "timeout": 1})
    assert isinstance(em, emitter_micro.Emitter) and em.connected
    assert em.port == 8080


def test_defaults():
    em = emitter_micro.Emitter({"verify": False})
    assert em.hosts == ["api.emitter.io"] and em.port == 443 and em.keepalive == 30 and em.secure
    assert emitter_micro.Emitter({"secure": False}).port == 8080
    a = emitter_micro.Emitter({"secure": False}).client_id
    b = emitter_micro.Emitter({"secure": False}).client_id
    assert a != b and len(a) > 8


def test_connect_event_held_until_handler():
    em, peer = client()
    seen = []
    em.on("connect", lambda: seen.append("c"))
    assert seen == []
    em.loop()
    assert seen == ["c"]


def test_bad_options_rejected():
    raises(ValueError, emitter_micro.Emitter, {"keepalive": 120, "secure": False})
    raises(ValueError, emitter_micro.Emitter, {"keepalive": 0, "secure": False})
    raises(ValueError, emitter_micro.Emitter, {"timeout": 0, "secure": False})
    e = raises(ValueError, emitter_micro.Emitter, {"hots": "x"})
    assert "hots" in str(e)
    em, peer = client()
    raises(ValueError, em.on, "mesage", print)


def test_publish_payload_types_and_options():
    em, peer = client()
    em.publish(KEY, "a/b/", b"\x00\x01")
    em.publish(KEY, "a/b", bytearray(b"ba"))
    em.publish(KEY, "a/b", memoryview(b"xmvx")[1:3])
    em.publish(KEY, "a/b", {"t": 1})
    em.publish(KEY, "a/b", [1, 2])
    em.publish(KEY, "a/b", "h\u00e9")
    em.publish(KEY, "a/b", "x", ttl=60)
    pubs = peer.of(0x30)
    assert [p.payload() for p in pubs[:6]] == [b"\x00\x01", b"ba", b"mv", json.dumps({"t": 1}).encode(),
                                               json.dumps([1, 2]).encode(), "h\u00e9".encode()]
    assert pubs[0].topic() == pubs[1].topic() == (KEY + "/a/b/").encode()
    assert pubs[6].topic() == (KEY + "/a/b/?ttl=60").encode()
    raises(TypeError, em.publish, KEY, "a/b", 42)
    raises(TypeError, em.publish, KEY, "a/b", None)


def test_bad_input_rejected_before_sending():
    em, peer = client()
    n = len(peer.sent)
    cases = [
        (ValueError, ("", "a/", "x")),
        (ValueError, ("ab/cd", "a/", "x")),
        (TypeError, (None, "a/", "x")),
        (ValueError, (KEY, "a/+/", "x")),
        (ValueError, (KEY, "a/#/", "x")),
        (ValueError, (KEY, "a b/", "x")),
        (ValueError, (KEY, "caf\u00e9/", "x")),
        (ValueError, (KEY, "a//b/", "x")),
        (ValueError, (KEY, "", "x")),
        (ValueError, (KEY, "/".join(["l"] * 24), "x")),
        (ValueError, (KEY, "a?ttl=3/", "x")),
        (ValueError, (KEY, "a/", b"x" * 65536)),
    ]
    for exc, args in cases:
        e = raises(exc, em.publish, *args)
        assert str(e), args
    em.publish(KEY, "/".join(["l"] * 23), "ok")  # 23 levels is the limit
    raises(ValueError, em.publish, KEY, "a/", "x", ttl=-1)
    raises(ValueError, em.publish, KEY, "a/", "x", qos=2)
    raises(ValueError, em.publish, KEY, "a/", "x", qos=None)
    raises(ValueError, em.subscribe, KEY, "a/#/")
    raises(ValueError, em.subscribe, "", "a/")
    assert len(peer.sent) == n + 1


def test_largest_publish_accepted():
    em, peer = client()
    t = (KEY + "/a/").encode()
    body = b"x" * (65536 - 2 - len(t))
    em.publish(KEY, "a", body)
    raises(ValueError, em.publish, KEY, "a", body + b"x")
    raises(ValueError, em.publish, KEY, "a", body, qos=1)


def test_secret_not_in_messages():
    em, peer = client()
    e = raises(ValueError, em.publish, KEY + "!", "a/", "x")
    assert KEY not in str(e) and KEY[:4] in str(e)
    assert KEY not in repr(em)


def test_subscribe_replay_before_suback_is_dispatched():
    em, peer = client()
    t = (KEY + "/room/?last=2").encode()
    peer.replay[t] = [("room/", "old1"), ("room/", "old2")]
    got = []
    em.on("message", lambda m: got.append(m.asString()))
    em.subscribe(KEY, "room", last=2)
    assert got == ["old1", "old2"]
    sub = peer.of(0x80)[-1]
    assert sub.topic() == t and sub.first == 0x82
    assert sub.body[-1] == 0  # QoS 0


def test_message_accessors():
    em, peer = client()
    got = []
    em.on("message", got.append)
    peer.feed(publish("a/", '{"v": [1, 2]}'))
    peer.feed(publish("a/b/", b"\xff\x00"))
    assert em.loop() == 2
    m = got[0]
    assert m.channel == "a/" and m.asObject() == {"v": [1, 2]}
    assert m.asBinary() == b'{"v": [1, 2]}' and m.binary == m.asBinary()
    raises(ValueError, got[1].asObject)
    raises(ValueError, got[1].asString)
    assert got[1].asBinary() == b"\xff\x00" and got[1].channel == "a/b/"


def test_unsubscribe_sends_packet_and_waits_ack():
    em, peer = client()
    em.subscribe(KEY, "a/", last=1)
    em.unsubscribe(KEY, "a")
    un = peer.of(0xA0)
    assert len(un) == 1 and un[0].first == 0xA2 and un[0].topic() == (KEY + "/a/?last=1").encode()
    assert peer.subs == []
    em.unsubscribe(KEY, "never/")
    assert peer.of(0xA0)[-1].topic() == (KEY + "/never/").encode()


def test_long_topic_subscribe_header():
    em, peer = client()
    ch = "/".join(["level%02d" % i for i in range(20)])
    em.subscribe(KEY, ch)
    assert peer.of(0x80)[-1].topic() == (KEY + "/" + ch + "/").encode()
    em.unsubscribe(KEY, ch)
    assert peer.of(0xA0)[-1].topic() == (KEY + "/" + ch + "/").encode()


def test_error_answer_fires_error_and_loop_survives():
    em, peer = client()
    errs, got = [], []
    em.on("error", errs.append)
    em.on("message", got.append)
    peer.feed(publish("emitter/error/", json.dumps({"req": 3, "status": 401, "message": "unauthorized"})))
    peer.feed(publish("a/", "after"))
    assert em.loop() == 1
    assert errs == [{"req": 3, "status": 401, "message": "unauthorized"}]
    assert got[0].asString() == "after" and em.connected


def test_refused_subscription_raises_emitter_error():
    em, peer = client()
    t = (KEY + "/no/").encode()
    peer.suback_code[t] = 0x80
    peer.feed(publish("emitter/error/", json.dumps({"req": 1, "status": 401, "message": "the security key is not authorized"})))
    errs = []
    em.on("error", errs.append)
    e = raises(emitter_micro.EmitterError, em.subscribe, KEY, "no/")
    assert e.status == 401 and e.req == 1 and "authorized" in e.message
    assert errs and errs[0]["status"] == 401 and em.connected


def test_handler_exception_reported_not_raised():
    em, peer = client()
    errs = []
    em.on("error", errs.append)

    def bad(m):
        raise RuntimeError("boom")
    em.on("message", bad)
    peer.feed(publish("a/", "1"))
    peer.feed(publish("a/", "2"))
    assert em.loop() == 2
    assert len(errs) == 2 and "boom" in errs[0]["message"] and em.connected


def test_presence_and_keygen_events():
    em, peer = client()
    peer.answers[b"keygen"] = lambda req, pid: {"req": pid, "status": 200, "key": "NEWKEY", "channel": req["channel"]}
    peer.answers[b"presence"] = lambda req, pid: {"req": pid, "status": 200, "time": 1, "event": "status",
                                                  "channel": req["channel"], "who": [{"id": "X"}]}
    keys, pres = [], []
    em.on("keygen", keys.append)
    em.on("presence", pres.append)
    em.keygen(KEY, "a/b")
    em.presence(KEY, "a")
    assert keys[0]["key"] == "NEWKEY" and keys[0]["channel"] == "a/b/"
    assert pres[0]["who"] == [{"id": "X"}]
    req = json.loads(peer.of(0x30)[0].payload())
    assert req == {"key": KEY, "channel": "a/b/", "type": "rw", "ttl": 0}
    req = json.loads(peer.of(0x30)[1].payload())
    assert req["status"] is True and req["changes"] is True
    assert all(p.first & 6 == 2 for p in peer.of(0x30))  # requests go at QoS 1
    peer.feed(publish("emitter/presence/", json.dumps({"time": 2, "event": "subscribe", "channel": "a/", "who": {"id": "Y"}})))
    em.loop()
    assert pres[1]["who"] == {"id": "Y"}


def test_keepalive_ping_and_dead_link():
    import time
    em, peer = client({"keepalive": 1, "timeout": 0.2, "reconnect": False})
    down = []
    em.on("disconnect", lambda: down.append(1))
    time.sleep_ms(1050)
    em.loop()
    assert peer.kinds()[-1] == 0xC0 and em.connected  # PINGREQ, and the PINGRESP came
    em.loop()
    peer.mute = True
    time.sleep_ms(1050)
    em.loop()
    assert peer.kinds()[-1] == 0xC0
    time.sleep_ms(250)
    try:
        em.loop()
    except OSError as e:
        assert e.args[0] == 110
    assert not em.connected and down == [1]


def test_no_call_blocks_when_peer_goes_silent():
    em, peer = client({"timeout": 0.1, "reconnect": False})
    peer.mute = True
    raises(OSError, em.subscribe, KEY, "a/")
    assert not em.connected
    em2, peer2 = client({"timeout": 0.1, "reconnect": False})
    peer2.mute = True
    raises(OSError, em2.publish, KEY, "a/", "x", qos=1)


def test_disconnect_sends_packet_and_fires_event():
    em, peer = client()
    down = []
    em.on("disconnect", lambda: down.append(1))
    em.disconnect()
    assert peer.kinds()[-1] == 0xE0 and down == [1] and not em.connected
    assert em.loop() == 0


def test_publish_qos1_waits_for_puback():
    em, peer = client()
    em.publish(KEY, "a/", "x", qos=1)
    p = peer.of(0x30)[-1]
    assert p.first & 6 == 2 and p.pid() == 1


def test_packet_id_wraps_at_65535():
    em, peer = client()
    em._mqtt.pid = 65534
    em.publish(KEY, "a/", "x", qos=1)
    em.publish(KEY, "a/", "y", qos=1)
    em.subscribe(KEY, "b/")
    assert [p.pid() for p in peer.of(0x30)[-2:]] == [65535, 1]
    assert peer.of(0x80)[-1].pid() == 2
