"""Every public call of emitter_micro against the real Emitter broker (both runtimes).

Run by host_tests/test_real_broker.py: in-process under CPython (shim sockets)
and under the MicroPython unix port (run_case.py).  env: see bs_util.Env and
the driver.  Channels carry env.run so stored messages of other runs never
show up.  Behaviour relied on: /work/shared/emitter-protocol.md.
"""
import json
import time

import emitter_micro
from bs_util import as_env, client, close, options, payloads, raises, settle, uid, wait_for


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
    em.loop(50)  # nothing raises after a clean disconnect
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
    wait_for(em, lambda: len(got) >= 6, "6 echoed messages")
    p = payloads(got)
    assert p[0] == "text \u00e9".encode() and got[0].asString() == "text \u00e9", p[0]
    assert p[1] == b"\x00\x01bytes" and p[2] == b"array" and p[3] == b"view", p[1:4]
    assert got[4].asObject() == {"t": 21.5, "ok": True}, p[4]
    assert p[5] == b"no trailing slash"
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
    em.publish(k, ch, "hidden-q1", me=False, qos=1)
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
    close(em, em2)


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
    em.publish(k, base + "route/a/temp/", "ta")
    em.publish(k, base + "route/b/temp/", "tb")
    em.publish(k, base + "tree/x/y/", "deep")
    em.publish(k, base + "tree/", "top")
    em.publish(k, base + "plain/", "p")
    wait_for(em, lambda: len(temps) + len(deep) + len(default) >= 5, "5 routed messages")
    settle(em, 200)
    assert sorted(payloads(temps)) == [b"ta", b"tb"], payloads(temps)
    assert sorted(payloads(deep)) == [b"deep", b"top"], payloads(deep)
    assert payloads(default) == [b"p"], payloads(default)
    assert sorted(m.channel for m in temps) == [base + "route/a/temp/", base + "route/b/temp/"]
    assert base + "tree/x/y/" in [m.channel for m in deep]
    close(em)


def case_unsubscribe_stops_messages(env):
    env = as_env(env)
    k = env.keys["test"]
    ch = "test/%s/unsub/" % uid(env, "r")
    em = client(env)
    pub = client(env)
    got = []
    em.subscribe(k, ch, handler=got.append)
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


def case_presence_status_then_change(env):
    env = as_env(env)
    k = env.keys["test"]
    ch = "test/%s/pres/" % uid(env, "r")
    carol = client(env, username="carol")
    carol.subscribe(k, ch)
    watcher_events = []
    watcher = client(env, {"presence": watcher_events.append}, username="watcher")
    ans = watcher.presence(k, ch, status=True, changes=True, timeout_ms=5000)
    assert ans["status"] == 200 and ans.get("event") == "status", ans
    assert ans["channel"] == ch, ans
    who = ans["who"]
    assert isinstance(who, list), who
    assert "carol" in [w.get("username") for w in who], who
    assert all(isinstance(w.get("id"), str) for w in who), who
    # The status answer is also the 'presence' event.
    assert any(e.get("event") == "status" for e in watcher_events), watcher_events
    del watcher_events[:]
    bob = client(env, username="bob")
    bob.subscribe(k, ch)
    wait_for([watcher, bob, carol],
             lambda: any(e.get("event") == "subscribe" for e in watcher_events),
             "presence change notification for bob")
    note = [e for e in watcher_events if e.get("event") == "subscribe"][0]
    assert isinstance(note["who"], dict), note  # ONE object here, a list in the status answer
    assert note["who"].get("username") == "bob" and note["channel"] == ch, note
    assert "req" not in note and "status" not in note, note
    bob.unsubscribe(k, ch)
    wait_for([watcher, bob, carol],
             lambda: any(e.get("event") == "unsubscribe" for e in watcher_events),
             "presence unsubscribe notification")
    # Event mode: the answer comes as the 'presence' event only.
    del watcher_events[:]
    assert watcher.presence(k, ch, status=True, changes=False) is None
    wait_for(watcher, lambda: any(e.get("event") == "status" for e in watcher_events), "presence event")
    close(watcher, bob, carol)


def case_keygen_blocking_and_event(env):
    env = as_env(env)
    em = client(env)
    ch = "test/%s/kg/" % uid(env, "r")
    ans = em.keygen(env.secret, ch, "rw", timeout_ms=5000)
    assert ans["status"] == 200 and ans["channel"] == ch and isinstance(ans["key"], str), ans
    k = ans["key"]
    got = []
    em.subscribe(k, ch, handler=got.append)
    em.publish(k, ch, "with the new key")
    wait_for(em, lambda: got, "message on the generated key")
    # Event mode.
    events = []
    em.on("keygen", events.append)
    assert em.keygen(env.secret, ch, "r", ttl=600) is None
    wait_for(em, lambda: events, "keygen event")
    assert events[0]["status"] == 200 and events[0]["key"] and events[0]["key"] != k, events
    # An extend key ('e') makes a private channel CHANNEL/CONNECTION-ID/.
    me = em.me(timeout_ms=5000)
    priv = em.keygen(env.keys["test"], "test/%s/priv/" % uid(env, "r"), "rw", timeout_ms=5000)
    assert priv["status"] == 200 and me["id"] in priv["channel"], (priv, me)
    close(em)


def case_me_blocking_and_event(env):
    env = as_env(env)
    em = client(env)
    ans = em.me(timeout_ms=5000)
    assert ans["status"] == 200 and isinstance(ans["id"], str) and ans["id"], ans
    events = []
    em.on("me", events.append)
    assert em.me() is None
    wait_for(em, lambda: events, "me event")
    assert events[0]["id"] == ans["id"], events
    # The broker answers before the PUBACK the request waits for: even timeout_ms=1 gets the answer.
    assert em.me(timeout_ms=1)["id"] == ans["id"]
    em2 = client(env)
    assert em2.me(timeout_ms=5000)["id"] != ans["id"]
    close(em, em2)


def case_keyban_then_publish_refused(env):
    env = as_env(env)
    em = client(env)
    ch = "test/%s/ban/" % uid(env, "r")
    # Fresh keys, never used before the ban (the broker caches authorisations).
    k1 = em.keygen(env.secret, ch, "rw", timeout_ms=5000)["key"]
    k2 = em.keygen(env.secret, ch, "rw", timeout_ms=5000)["key"]
    ans = em.keyban(env.secret, k1, True, timeout_ms=5000)
    assert ans["status"] == 200 and ans.get("banned") is True, ans
    bans, errors = [], []
    em.on("keyban", bans.append)
    em.on("error", errors.append)
    assert em.keyban(env.secret, k2, True) is None
    wait_for(em, lambda: bans, "keyban event")
    assert bans[0].get("banned") is True, bans
    em.publish(k1, ch, "from a banned key")
    wait_for(em, lambda: errors, "401 error event for the banned key")
    assert errors[0]["status"] == 401, errors
    assert em.connected  # errors never close the link
    # Subscribing with a banned key is refused too.
    e = raises(emitter_micro.EmitterError, em.subscribe, k2, ch)
    assert e.status == 401, (e.status, e.message)
    # A keyban with a plain key instead of the secret is refused.
    e = raises(emitter_micro.EmitterError, em.keyban, env.keys["test"], k2, True, 5000)
    assert e.status in (400, 401), (e.status, e.message)
    close(em)


def case_link_and_publish_with_link(env):
    env = as_env(env)
    em = client(env)
    ch = "test/%s/link/" % uid(env, "r")
    ans = em.link(env.keys["test"], ch, "r1", subscribe=True, timeout_ms=5000)
    assert ans["status"] == 200 and ans["name"] == "r1", ans
    got = []
    em.on("message", got.append)
    em.publish_with_link("r1", "via the link")  # subscribe=True: the link subscribed us too
    wait_for(em, lambda: got, "message published through link r1")
    assert got[0].channel == ch and got[0].binary == b"via the link", (got[0].channel, got[0].binary)
    # Event mode, with options on the linked channel.
    events = []
    em.on("link", events.append)
    assert em.link(env.keys["test"], ch + "?ttl=30", "r2", subscribe=False) is None
    wait_for(em, lambda: events, "link event")
    assert events[0]["status"] == 200 and events[0]["name"] == "r2", events
    em.publish_with_link("r2", {"stored": 1}, qos=1)
    links = em.me(timeout_ms=5000).get("links") or {}
    assert "r1" in links and "r2" in links, links
    raises(ValueError, em.publish_with_link, "abc", "x")  # refused locally: 1-2 alphanumerics
    close(em)


def case_history_blocking_and_event(env):
    env = as_env(env)
    k = env.keys["test"]
    ch = "test/%s/hist/" % uid(env, "r")
    em = client(env)
    em.publish(k, ch, b"h1\x00\xff", ttl=120, qos=1)
    em.publish(k, ch, "h2", ttl=120, qos=1)
    ans = em.history(k, ch, last=2, timeout_ms=5000)
    msgs = ans["messages"]
    assert len(msgs) == 2, ans
    assert sorted(m["payload"] for m in msgs) == [b"h1\x00\xff", b"h2"], msgs
    assert all(isinstance(m["payload"], bytes) for m in msgs)
    events = []
    em.on("history", events.append)
    assert em.history(k, ch, last=1) is None
    wait_for(em, lambda: events, "history event")
    assert len(events[0]["messages"]) == 1 and isinstance(events[0]["messages"][0]["payload"], bytes), events
    now = int(time.time())
    old = em.history(k, ch, last=5, since=now - 7200, until=now - 3600, timeout_ms=5000)
    assert not old.get("messages"), old
    close(em)


def case_share_group(env):
    env = as_env(env)
    group = env.share_group
    a_got, b_got, errors = [], [], []
    a = client(env)
    b = client(env, {"error": errors.append})
    a.subscribe_with_group(env.keys["share"], "test/share/", group, handler=a_got.append)
    b.subscribe_with_group(env.keys["share"], "test/share/", group, handler=b_got.append)
    pub = client(env)
    n = 20
    for i in range(n):
        pub.publish(env.keys["test"], "test/share/", "s%d" % i, qos=1)
    wait_for([a, b, pub], lambda: len(a_got) + len(b_got) >= n, "%d shared messages" % n)
    settle([a, b, pub], 300)
    pa, pb = set(payloads(a_got)), set(payloads(b_got))
    print("share group split: %d / %d" % (len(a_got), len(b_got)))
    assert len(a_got) + len(b_got) == n and not (pa & pb), (payloads(a_got), payloads(b_got))
    assert pa | pb == set(("s%d" % i).encode() for i in range(n))
    assert all(m.channel == "test/share/" for m in a_got + b_got), [m.channel for m in a_got + b_got]
    # A share subscription with a key not made for $share/GROUP/CHANNEL/ is refused.
    e = raises(emitter_micro.EmitterError, b.subscribe_with_group, env.keys["test"], "test/share/", group)
    assert e.status == 401, (e.status, e.message)
    wait_for(b, lambda: errors, "error event for the refused share subscription")
    assert errors[-1]["status"] == 401, errors
    raises(ValueError, a.subscribe_with_group, env.keys["share"], "test/share/", "bad-group")
    close(a, b, pub)


def case_last_will(env):
    env = as_env(env)
    k = env.keys["test"]
    ch = "test/%s/will/" % uid(env, "r")
    watcher = client(env)
    got = []
    watcher.subscribe(k, ch, handler=got.append)
    dev = client(env, will={"key": k, "channel": ch, "message": {"gone": env.run}})
    dev.publish(k, ch, "alive")
    wait_for([watcher, dev], lambda: payloads(got) == [b"alive"], "the device's own message")
    dev.disconnect()  # the broker sends the will even on a clean DISCONNECT
    wait_for(watcher, lambda: len(got) >= 2, "last will")
    assert got[1].asObject() == {"gone": env.run}, payloads(got)
    close(watcher)


def case_error_paths(env):
    env = as_env(env)
    errors = []
    em = client(env, {"error": errors.append})
    ch = "test/%s/err/" % uid(env, "r")
    # keygen with a key that is neither the secret nor an extend key: 401, raised.
    e = raises(emitter_micro.EmitterError, em.keygen, env.keys["rw"], ch, "rw", 0, 5000)
    assert e.status == 401 and e.req, (e.status, e.message, e.req)
    # ... and as the 'error' event in event mode.
    del errors[:]
    em.keygen(env.keys["rw"], ch, "rw")
    wait_for(em, lambda: errors, "error event for keygen")
    assert errors[0]["status"] == 401, errors
    # A bad link name: 400.
    e = raises(emitter_micro.EmitterError, em.link, env.keys["test"], ch, "bad-name", True, 5000)
    assert e.status == 400, (e.status, e.message)
    # Subscribing where the key does not reach: 401 raised, also an 'error' event.
    del errors[:]
    e = raises(emitter_micro.EmitterError, em.subscribe, env.keys["rw"], ch)
    assert e.status == 401, (e.status, e.message)
    assert errors and errors[-1]["status"] == 401, errors
    # Publishing where the key does not reach: 401 as an 'error' event.
    del errors[:]
    em.publish(env.keys["rw"], ch, "nope")
    wait_for(em, lambda: errors, "error event for the unauthorised publish")
    assert errors[0]["status"] == 401, errors
    # A packet over 65,536 bytes is refused locally: the broker would reset the link.
    e = raises(ValueError, em.publish, env.keys["test"], ch, bytes(70000))
    assert "large" in str(e), e
    # None of this closed the connection.
    assert em.connected
    got = []
    em.subscribe(env.keys["test"], ch, handler=got.append)
    em.publish(env.keys["test"], ch, bytes(60000), qos=1)  # below the limit: goes through
    wait_for(em, lambda: got, "a 60,000-byte message")
    assert len(got[0].binary) == 60000
    assert em.me(timeout_ms=5000)["status"] == 200
    close(em)


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
