"""Answers no broker gives, on the scripted rogue peer (host_tests/support/rogue_peer.py): an answer for
another request first, a request answer or a SUBACK withheld while the link stays up, a history
answer in another broker build's shape.

Everything a real broker shows is checked against it instead (<feature>/bs_*.py).
"""
import errno
import json
import time

from rogue_peer import KEY, client, publish, raises

FAST = {"backoff_ms": (20, 80), "timeout": 0.05}


def run_until(em, cond, ms=3000):
    end = time.ticks_add(time.ticks_ms(), ms)
    while not cond():
        assert time.ticks_diff(end, time.ticks_ms()) > 0, "condition not reached in time"
        em.loop(20)


def test_answers_matched_by_req_not_order():
    # The real broker answers each request before its PUBACK, so a stray answer never comes first.
    em, peer = client()
    peer.feed(publish("emitter/me/", json.dumps({"req": 999, "status": 200, "id": "OTHER"})))
    events = []
    em.on("me", events.append)

    def late(req, pid):
        peer.feed(publish("emitter/me/", json.dumps({"req": pid, "status": 200, "id": "MINE"})))
    peer.answers[b"me"] = late
    assert em.me(timeout_ms=500)["id"] == "MINE"
    assert [e["id"] for e in events] == ["OTHER", "MINE"]  # the stray one is an event, not the answer


def test_request_answer_withheld_times_out_link_stays_up():
    # The PUBACK comes, the answer never does: OSError ETIMEDOUT after timeout_ms, and the link is fine.
    em, peer = client()
    peer.answers[b"me"] = lambda req, pid: None
    t0 = time.ticks_ms()
    e = raises(OSError, em.me, timeout_ms=200)
    assert e.args[0] == errno.ETIMEDOUT, e
    assert 150 <= time.ticks_diff(time.ticks_ms(), t0) < 2000
    assert em.connected
    peer.answers[b"me"] = lambda req, pid: {"req": pid, "status": 200, "id": "X"}
    assert em.me(timeout_ms=500)["id"] == "X"


def test_history_answer_in_another_broker_builds_shape():
    # The pinned broker sends base64 payloads under "channel" (bs_requests.py); other builds send
    # the text payload under "topic". Both come out as bytes under "channel".
    em, peer = client()
    peer.answers[b"history"] = lambda req, pid: {"req": pid, "messages": [{"id": "1", "topic": "a/", "payload": "hi"}]}
    ans = em.history(KEY, "a", timeout_ms=500)
    assert ans["messages"][0]["payload"] == b"hi" and ans["messages"][0]["channel"] == "a/"


def test_suback_withheld_on_resubscribe_is_a_failed_attempt_not_a_connection():
    em, peer = client(FAST)
    events, errs = [], []
    em.on("connect", lambda: events.append("connect"))
    em.on("disconnect", lambda: events.append("disconnect"))
    em.on("error", lambda e: errs.append(e["message"]))
    em.subscribe(KEY, "cmd/")
    em.loop()
    peer.closed = True
    em.loop()
    assert events == ["connect", "disconnect"] and len(errs) == 1 and "lost" in errs[0], (events, errs)
    peer.closed = False
    peer.ignore = (0x80,)  # the next connection gets no SUBACK: that attempt fails
    run_until(em, lambda: len(errs) >= 2)
    assert not em.connected and peer.connects == 2 and "connect to" in errs[1], (peer.connects, errs)
    assert len(peer.of(0x80)) == 2  # the resubscribe went out; its SUBACK did not come
    peer.ignore = ()
    run_until(em, lambda: em.connected)
    # connect and disconnect alternate: no disconnect for a connection that never was
    assert events == ["connect", "disconnect", "connect"], (events, errs)
    assert [p.topic() for p in peer.of(0x80)][-1] == (KEY + "/cmd/").encode()
