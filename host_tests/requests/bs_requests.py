"""Requests (keygen, presence, me, keyban, link, history), share groups, the last will
and the error paths of emitter_micro against the real Emitter broker.

Run by host_tests/requests/test_requests_broker.py like bs_api.py: in-process under CPython
(shim sockets) and under the MicroPython unix port (run_case.py).  env: see
bs_util.Env and the driver.  Channels carry env.run so stored messages of
other runs never show up.  Behaviour relied on: /work/shared/emitter-protocol.md.
"""
import time

import emitter_micro
from bs_util import as_env, client, close, payloads, raises, settle, uid, wait_for


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
    events = []
    em.on("keygen", events.append)
    ans = em.keygen(env.secret, ch, "rw", timeout_ms=5000)
    assert ans["status"] == 200 and ans["channel"] == ch and isinstance(ans["key"], str), ans
    assert events == [ans], events  # a blocking answer is the event too
    del events[:]
    k = ans["key"]
    got = []
    em.subscribe(k, ch, handler=got.append)
    em.publish(k, ch, "with the new key")
    wait_for(em, lambda: got, "message on the generated key")
    # Event mode.
    assert em.keygen(env.secret, ch, "r", ttl=600) is None
    wait_for(em, lambda: events, "keygen event")
    assert events[0]["status"] == 200 and events[0]["key"] and events[0]["key"] != k, events
    # An extend key ('e') makes a private channel CHANNEL/CONNECTION-ID/.
    me = em.me(timeout_ms=5000)
    priv = em.keygen(env.keys["extend"], "test/%s/priv/" % uid(env, "r"), "rw", timeout_ms=5000)
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
        # Read as a device would: on lwIP, frames held unread by a and b take the 16 pool buffers every
        # connection receives into, and pub's PUBACK would find none.
        a.loop(0)
        b.loop(0)
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
    dev = client(env, will={"key": k, "channel": ch, "message": {"gone": env.run}, "retain": True})
    dev.publish(k, ch, "alive")
    wait_for([watcher, dev], lambda: payloads(got) == [b"alive"], "the device's own message")
    dev.disconnect()  # the broker sends the will even on a clean DISCONNECT
    wait_for(watcher, lambda: len(got) >= 2, "last will")
    assert got[1].asObject() == {"gone": env.run}, payloads(got)
    # Retained: a subscriber that comes later gets it.
    late = []
    later = client(env)
    later.subscribe(k, ch, handler=late.append)
    assert {"gone": env.run} in [m.asObject() for m in late], payloads(late)
    close(watcher, later)


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
    assert e.status == 401 and e.req == em._pid and e.message, (e.status, e.message, e.req)
    assert errors and errors[-1]["status"] == 401, errors
    # Publishing where the key does not reach: 401 as an 'error' event.
    del errors[:]
    em.publish(env.keys["rw"], ch, "nope")
    wait_for(em, lambda: errors, "error event for the unauthorised publish")
    assert errors[0]["status"] == 401, errors
    # At QoS 1 the error carries the publish's packet id as req.
    del errors[:]
    em.publish(env.keys["rw"], ch, "nope", qos=1)
    pid = em._pid
    wait_for(em, lambda: errors, "error event for the unauthorised QoS 1 publish")
    assert errors[0]["status"] == 401 and errors[0]["req"] == pid, (errors, pid)
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
