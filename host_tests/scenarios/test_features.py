"""Feature scenarios (options, handlers, requests) on the in-process fake socket."""
import json

import emitter_micro
from fakepeer import KEY, client, publish, raises



def test_publish_options_in_topic():
    em, peer = client()
    em.publish(KEY, "a", "x", ttl=30, me=False)
    em.publish(KEY, "a", "x", qos=1, retain=True)
    p = peer.of(0x30)
    assert p[0].topic() == (KEY + "/a/?ttl=30&me=0").encode()
    assert p[1].topic() == (KEY + "/a/").encode() and p[1].first == 0x33  # QoS 1 + retain


def test_subscribe_options_in_topic():
    em, peer = client()
    em.subscribe(KEY, "a", last=5, since=1700000000, until=1700000100)
    assert peer.of(0x80)[0].topic() == (KEY + "/a/?last=5&from=1700000000&until=1700000100").encode()


def test_subscription_handlers_route_like_the_broker():
    em, peer = client()
    rooms, plus, rest = [], [], []
    em.on("message", lambda m: rest.append(m.channel))
    em.subscribe(KEY, "room/", handler=lambda m: rooms.append(m.channel))
    em.subscribe(KEY, "dev/+/temp/", handler=lambda m: plus.append(m.channel))
    for ch in ("room/", "room/a/b/", "dev/7/temp/", "dev/7/temp/x/", "dev/7/hum/", "roomy/", "other/"):
        peer.feed(publish(ch, "x"))
    assert em.loop() == 7
    assert rooms == ["room/", "room/a/b/"]
    assert plus == ["dev/7/temp/", "dev/7/temp/x/"]
    assert rest == ["dev/7/hum/", "roomy/", "other/"]
    em.unsubscribe(KEY, "room")
    peer.feed(publish("room/", "x"))
    em.loop()
    assert rest[-1] == "room/"


def test_share_group_topic_and_handler():
    em, peer = client()
    got = []
    em.subscribe_with_group(KEY, "jobs", "workers", handler=got.append)
    assert peer.of(0x80)[0].topic() == (KEY + "/$share/workers/jobs/").encode()
    peer.feed(publish("jobs/", "j1"))
    em.loop()
    assert got[0].asString() == "j1"
    raises(ValueError, em.subscribe_with_group, KEY, "jobs", "bad group")


def test_publish_with_link():
    em, peer = client()
    em.publish_with_link("r1", "hi", qos=1)
    p = peer.of(0x30)[0]
    assert p.topic() == b"r1" and p.first & 6 == 2
    raises(ValueError, em.publish_with_link, "abc", "x")
    raises(ValueError, em.publish_with_link, "a/", "x")


def test_last_will_in_connect():
    em, peer = client({"will": {"key": KEY, "channel": "status", "message": "offline", "retain": True}})
    c = peer.sent[0]
    assert c.body[7] & 0x24 == 0x24  # will flag and will retain
    assert (KEY + "/status/").encode() in c.body and b"offline" in c.body
    raises(ValueError, emitter_micro.Emitter, {"secure": False, "will": {"key": KEY, "channel": "a/+/", "message": "x"}})


def _answer(op_fields):
    return lambda req, pid: dict(op_fields, req=pid)


def test_blocking_requests_return_answers():
    em, peer = client()
    peer.answers[b"keygen"] = lambda req, pid: {"req": pid, "status": 200, "key": "K2", "channel": req["channel"]}
    peer.answers[b"me"] = _answer({"status": 200, "id": "CONN", "links": {"r1": "room/"}})
    peer.answers[b"keyban"] = lambda req, pid: {"req": pid, "status": 200, "banned": req["banned"]}
    peer.answers[b"link"] = lambda req, pid: {"req": pid, "status": 200, "name": req["name"], "channel": req["channel"]}
    peer.answers[b"presence"] = lambda req, pid: {"req": pid, "status": 200, "event": "status", "who": []}
    events = []
    for ev in ("keygen", "me", "keyban", "link", "presence"):
        em.on(ev, lambda d, ev=ev: events.append(ev))
    assert em.keygen(KEY, "a/#/", "rwslpex", 600, timeout_ms=500)["key"] == "K2"
    assert json.loads(peer.of(0x30)[-1].payload()) == {"key": KEY, "channel": "a/#/", "type": "rwslpex", "ttl": 600}
    assert em.me(timeout_ms=500)["id"] == "CONN"
    assert peer.of(0x30)[-1].payload() == b""
    assert em.keyban("SECRETxx", KEY, False, timeout_ms=500)["banned"] is False
    assert em.link(KEY, "room/?ttl=30", "r1", timeout_ms=500)["channel"] == "room/?ttl=30"
    assert em.presence(KEY, "a", status=False, timeout_ms=500)["event"] == "status"
    assert events == ["keygen", "me", "keyban", "link", "presence"]
    raises(ValueError, em.keygen, KEY, "a/", "rz")


def test_answers_matched_by_req_not_order():
    em, peer = client()
    # An unrelated answer (another request id) arrives first: it must not be taken for ours.
    peer.answers[b"me"] = lambda req, pid: None
    peer.feed(publish("emitter/me/", json.dumps({"req": 999, "status": 200, "id": "OTHER"})))

    def late(req, pid):
        peer.feed(publish("emitter/me/", json.dumps({"req": pid, "status": 200, "id": "MINE"})))
    peer.answers[b"me"] = late
    assert em.me(timeout_ms=500)["id"] == "MINE"


def test_request_error_raises_emitter_error():
    em, peer = client()
    peer.answers[b"keygen"] = lambda req, pid: {"req": pid, "status": 401, "message": "unauthorized"}
    errs = []
    em.on("error", errs.append)
    e = raises(emitter_micro.EmitterError, em.keygen, KEY, "a/", timeout_ms=500)
    assert e.status == 401 and e.message == "unauthorized" and e.req == peer.of(0x30)[-1].pid()
    assert errs[0]["status"] == 401


def test_request_timeout_raises_etimedout():
    import time
    em, peer = client()
    peer.answers[b"me"] = lambda req, pid: None
    t0 = time.ticks_ms()
    e = raises(OSError, em.me, timeout_ms=200)
    assert e.args[0] == 110
    assert 150 <= time.ticks_diff(time.ticks_ms(), t0) < 2000
    assert em.connected


def test_messages_dispatched_while_waiting_for_answer():
    em, peer = client()
    got = []
    em.on("message", got.append)

    def ans(req, pid):
        peer.feed(publish("a/", "during"))
        return {"req": pid, "status": 200, "id": "X"}
    peer.answers[b"me"] = ans
    em.me(timeout_ms=500)
    assert got[0].asString() == "during"


def test_history_payloads_are_bytes():
    em, peer = client()
    peer.answers[b"history"] = lambda req, pid: {"req": pid, "messages": [
        {"id": "1", "channel": "a/", "payload": "aGVsbG8="}, {"id": "2", "channel": "a/", "payload": "AP8="}]}
    events = []
    em.on("history", events.append)
    ans = em.history(KEY, "a", last=2, timeout_ms=500)
    assert [m["payload"] for m in ans["messages"]] == [b"hello", b"\x00\xff"]
    assert json.loads(peer.of(0x30)[-1].payload()) == {"key": KEY, "channel": KEY + "/a/?last=2"}
    em.history(KEY, "a")
    em.loop()
    assert events[-1]["messages"][0]["payload"] == b"hello"
    # Broker builds that answer with the text payload under "topic" instead:
    peer.answers[b"history"] = lambda req, pid: {"req": pid, "messages": [{"id": "1", "topic": "a/", "payload": "hi"}]}
    ans = em.history(KEY, "a", timeout_ms=500)
    assert ans["messages"][0]["payload"] == b"hi" and ans["messages"][0]["channel"] == "a/"


def test_request_without_timeout_returns_none_and_fires_event():
    em, peer = client()
    peer.answers[b"me"] = _answer({"status": 200, "id": "E"})
    got = []
    em.on("me", got.append)
    assert em.me() is None
    em.loop()
    assert got[0]["id"] == "E"


def test_publish_error_carries_req():
    em, peer = client()
    errs = []
    em.on("error", errs.append)
    em.publish(KEY, "a/", "x", qos=1)
    pid = peer.of(0x30)[-1].pid()
    peer.feed(publish("emitter/error/", json.dumps({"req": pid, "status": 401, "message": "unauthorized"})))
    em.loop()
    assert errs[0]["req"] == pid
