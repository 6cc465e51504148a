"""emitter_micro.aio (the asyncio front-end) against the real Emitter broker: every call.

Run by host_tests/aio/test_aio_broker.py like bs_api.py (in-process under CPython's
asyncio through the shim, and under the MicroPython unix port's asyncio), and by
host_tests/aio/test_aio.py under the 32-bit unix port. Each case is one asyncio.run().
The fault cases (slow acks, broker stopped, half-open link, with a 10 ms ticker)
are in aio_faults.py, run by test_aio.py with their own broker and Toxiproxy.
"""
import errno
import time

import asyncio

import emitter_micro
from bs_util import as_env, proxy_enabled, uid
from emitter_micro import aio

WAIT_MS = 5000


def aopts(env, **extra):
    o = {"host": env.host, "port": env.port, "secure": False, "timeout": 5, "reconnect": False}
    o.update(extra)
    return o


async def until(cond, what, ms=WAIT_MS):
    """Yield until cond() is true; fail naming what after ms."""
    t0 = time.ticks_ms()
    while not cond():
        if time.ticks_diff(time.ticks_ms(), t0) > ms:
            raise AssertionError("timed out after %d ms waiting for %s" % (ms, what))
        await asyncio.sleep(0.01)


async def take(em, n, ms=WAIT_MS):
    """The next n messages of em.messages(), within ms."""
    got = []

    async def read():
        async for m in em.messages():
            got.append(m)
            if len(got) == n:
                return
    try:
        await asyncio.wait_for(read(), ms / 1000)
    except asyncio.TimeoutError:
        raise AssertionError("%d of %d messages in %d ms: %r" % (len(got), n, ms, [m.binary for m in got]))
    return got


async def raises(exc, aw):
    try:
        await aw
    except exc as e:
        return e
    raise AssertionError("%s not raised" % exc.__name__)


def run(main, env):
    asyncio.run(main(as_env(env)))


# --- connect, events, publish, subscribe, messages() ------------------------------------------
async def _connect_events(env):
    seen = []
    em = await aio.connect(aopts(env, client_id="aio-" + env.run, username="alice"))
    await em.publish(env.keys["test"], "test/%s/conn/" % uid(env, "a"), "acked", qos=1)
    # On MicroPython the client waits for its own socket in asyncio's IO queue (aionet.py): asyncio.stream,
    # 0.9 KB of heap, never loads; nor does asyncio.event (0.6 KB) for a PUBACK's wait, only with em.up.
    # CPython's asyncio streams and Events are what it uses there.
    import sys
    mp = sys.implementation.name == "micropython"
    assert not mp or ("emitter_micro.aionet" in sys.modules and "asyncio.stream" not in sys.modules
                      and "asyncio.event" not in sys.modules), sorted(sys.modules)
    assert isinstance(em, aio.Emitter) and em.connected and em.up.is_set()
    assert not mp or "asyncio.event" in sys.modules
    # Registered after connect: the held 'connect' event is delivered by the link task.
    em.on("connect", lambda: seen.append("connect"))
    em.on("disconnect", lambda: seen.append("disconnect"))
    await until(lambda: seen == ["connect"], "the held connect event")
    e = None
    try:
        em.loop()
    except RuntimeError as x:
        e = x
    assert e is not None, "loop() on the asyncio client"
    ans = await em.presence(env.keys["test"], "test/%s/conn/" % uid(env, "a"))
    assert ans["status"] == 200, ans
    await em.disconnect()
    assert not em.connected and not em.up.is_set() and seen == ["connect", "disconnect"], seen
    # messages() ends once the client is closed.
    assert await _count(em) == 0
    # Calls after disconnect: nothing is sent.
    e = await raises(OSError, em.publish(env.keys["test"], "test/x/", "late", qos=1))
    assert e.args[0] == 107, e


async def _count(em):
    n = 0
    async for _ in em.messages():
        n += 1
    return n


def case_aio_connect_events_and_disconnect(env):
    run(_connect_events, env)


async def _publish_subscribe(env):
    k = env.keys["test"]
    ch = "test/%s/ps/" % uid(env, "a")
    pub = await aio.connect(aopts(env))
    for i in range(3):
        await pub.publish(k, ch, "stored-%d" % i, ttl=120, qos=1)  # acked: stored by the broker
    sub = await aio.connect(aopts(env))
    # last=5: the stored messages replay before the SUBACK, and subscribe() returns after it.
    await sub.subscribe(k, ch, last=5)
    assert len(sub.inbox) == 3, [m.binary for m in sub.inbox]
    got = await take(sub, 3)
    assert sorted(m.binary for m in got) == [b"stored-0", b"stored-1", b"stored-2"], [m.binary for m in got]
    # Every payload type, QoS 0 and 1, in order.
    await pub.publish(k, ch, "text \u00e9")
    await pub.publish(k, ch, b"\x00\x01bytes", qos=1)
    await pub.publish(k, ch, bytearray(b"array"))
    await pub.publish(k, ch, memoryview(b"xxviewxx")[2:6], qos=1)
    await pub.publish(k, ch, {"t": 21.5, "ok": True})
    await pub.publish(k, ch[:-1], "no trailing slash", qos=1)
    got = await take(sub, 6)
    assert [m.binary for m in got] == ["text \u00e9".encode(), b"\x00\x01bytes", b"array", b"view",
                                       got[4].binary, b"no trailing slash"], [m.binary for m in got]
    assert got[4].asObject() == {"t": 21.5, "ok": True} and got[0].asString() == "text \u00e9"
    assert all(isinstance(m, emitter_micro.EmitterMessage) and m.channel == ch for m in got)
    # me=False: no echo of the own publish.
    await sub.publish(k, ch, "echo?", me=False, qos=1)
    await pub.publish(k, ch, "after", qos=1)
    got = await take(sub, 1)
    assert got[0].binary == b"after", got[0].binary
    # A handler per subscription takes its messages; the 'message' event comes before messages().
    ch2 = "test/%s/ps2/" % uid(env, "a")
    mine, ev = [], []
    await sub.subscribe(k, ch2 + "h/", handler=mine.append)
    await sub.subscribe(k, ch2)
    await pub.publish(k, ch2 + "h/", "to the handler", qos=1)
    await until(lambda: mine, "the handler's message")
    sub.on("message", ev.append)
    await pub.publish(k, ch2, "to the event", qos=1)
    await until(lambda: ev, "the message event")
    assert mine[0].binary == b"to the handler" and ev[0].binary == b"to the event" and not sub.inbox
    # unsubscribe: nothing more arrives from that channel.
    await sub.unsubscribe(k, ch2)
    await sub.unsubscribe(k, ch2 + "h/")
    await pub.publish(k, ch2, "gone", qos=1)
    await pub.publish(k, ch2 + "h/", "gone", qos=1)
    await asyncio.sleep(0.3)
    assert len(ev) == 1 and len(mine) == 1, (ev, mine)
    assert pub.pending() == 0 and await pub.flush(100) is True and pub.dropped == 0
    await pub.disconnect()
    await sub.disconnect()
    # Every field was set when the client was made (one added later grows the instance's table by copying).
    made = sorted(aio.Emitter(aopts(env)).__dict__)
    assert sorted(sub.__dict__) == made and sorted(pub.__dict__) == made, sorted(set(sub.__dict__) ^ set(made))


def case_aio_publish_subscribe_messages(env):
    run(_publish_subscribe, env)


async def _message_queue(env):
    k = env.keys["test"]
    ch = "test/%s/mq/" % uid(env, "a")
    em = await aio.connect(aopts(env, message_queue=4))
    await em.subscribe(k, ch)
    for i in range(10):
        await em.publish(k, ch, "m%d" % i, qos=1)  # the echo is back before the PUBACK
    await until(lambda: em.missed == 6, "6 missed")
    assert [m.binary for m in em.inbox] == [b"m6", b"m7", b"m8", b"m9"], [m.binary for m in em.inbox]
    got = await take(em, 4)
    assert [m.binary for m in got] == [b"m6", b"m7", b"m8", b"m9"]
    await em.disconnect()


def case_aio_message_queue_drops_oldest(env):
    run(_message_queue, env)


# --- requests --------------------------------------------------------------------------
async def _requests(env):
    k = env.keys["test"]
    u = uid(env, "a")
    events = []
    carol = await aio.connect(aopts(env, username="carol"))
    await carol.subscribe(k, "test/%s/pres/" % u)
    em = await aio.connect(aopts(env, username="watcher"))
    em.on("presence", events.append)
    ans = await em.presence(k, "test/%s/pres/" % u)
    assert ans["status"] == 200 and ans["event"] == "status", ans
    assert "carol" in [w.get("username") for w in ans["who"]], ans
    # changes=True: a join comes as the 'presence' event.
    bob = await aio.connect(aopts(env, username="bob"))
    await bob.subscribe(k, "test/%s/pres/" % u)
    await until(lambda: [e for e in events if e.get("event") == "subscribe"], "the presence change")
    # keygen, then traffic with the new key.
    ch = "test/%s/kg/" % u
    kg = await em.keygen(env.secret, ch, "rwsl", ttl=600)
    assert kg["status"] == 200 and kg["channel"] == ch and kg["key"], kg
    await em.subscribe(kg["key"], ch)
    await em.publish(kg["key"], ch, "with the new key", qos=1)
    assert (await take(em, 1))[0].binary == b"with the new key"
    # me
    me = await em.me()
    assert me["status"] == 200 and me["id"], me
    assert (await carol.me())["id"] != me["id"]
    # link + publish_with_link
    lch = "test/%s/link/" % u
    ln = await em.link(k, lch, "r1", subscribe=True)
    assert ln["status"] == 200 and ln["name"] == "r1", ln
    await em.publish_with_link("r1", "via the link", qos=1)
    m = (await take(em, 1))[0]
    assert m.channel == lch and m.binary == b"via the link", (m.channel, m.binary)
    assert "r1" in ((await em.me(5000)).get("links") or {})
    await raises(ValueError, em.publish_with_link("abc", "x"))
    # history: payloads as bytes.
    hch = "test/%s/hist/" % u
    await em.publish(k, hch, b"h1\x00\xff", ttl=120, qos=1)
    await em.publish(k, hch, "h2", ttl=120, qos=1)
    hist = await em.history(k, hch, last=2)
    assert sorted(x["payload"] for x in hist["messages"]) == [b"h1\x00\xff", b"h2"], hist
    # keyban: a fresh key banned, then refused (the error raised, and the 'error' event).
    errors = []
    em.on("error", errors.append)
    bch = "test/%s/ban/" % u
    k1 = (await em.keygen(env.secret, bch, "rw"))["key"]
    ban = await em.keyban(env.secret, k1, True)
    assert ban["status"] == 200 and ban["banned"] is True, ban
    e = await raises(emitter_micro.EmitterError, em.subscribe(k1, bch))
    assert e.status == 401 and errors and errors[-1]["status"] == 401, (e.status, errors)
    e = await raises(emitter_micro.EmitterError, em.publish(k1, bch, "banned", qos=1))
    assert e.status == 401, (e.status, e.message)
    # Requests from several tasks at once: each gets its own answer.
    answers = await asyncio.gather(em.me(), em.keygen(env.secret, ch, "r"), em.presence(k, ch, changes=False))
    assert answers[0]["id"] == me["id"] and answers[1]["key"] and answers[2]["event"] == "status", answers
    assert em.connected and not em.pending()
    for c in (em, carol, bob):
        await c.disconnect()


def case_aio_requests(env):
    run(_requests, env)


async def _errors(env):
    errors = []
    em = await aio.connect(aopts(env))
    em.on("error", errors.append)
    ch = "test/%s/err/" % uid(env, "a")
    e = await raises(emitter_micro.EmitterError, em.keygen(env.keys["rw"], ch, "rw"))
    assert e.status == 401 and e.req, (e.status, e.message, e.req)
    e = await raises(emitter_micro.EmitterError, em.link(env.keys["test"], ch, "bad-name"))
    assert e.status == 400, (e.status, e.message)
    e = await raises(emitter_micro.EmitterError, em.subscribe(env.keys["rw"], ch))
    assert e.status == 401 and errors[-1]["status"] == 401, (e.status, errors)
    e = await raises(emitter_micro.EmitterError, em.publish(env.keys["extend"], ch, "x", qos=1))
    assert e.status == 401, (e.status, e.message)
    await em.publish(env.keys["rw"], ch, "qos 0: told as an event")
    await until(lambda: len(errors) >= 4, "the error event of a QoS 0 publish")
    # Refused locally, before anything is sent.
    e = await raises(ValueError, em.publish(env.keys["test"], ch, bytes(70000)))
    assert "large" in str(e), e
    await raises(ValueError, em.publish(env.keys["test"], ch, "x", qos=2))
    await raises(ValueError, em.subscribe(env.keys["test"], "test/#/"))
    await raises(ValueError, em.subscribe_with_group(env.keys["share"], "test/share/", "bad-group"))
    await raises(ValueError, em.keygen(env.secret, ch, "rwz"))
    # None of this closed the link.
    assert em.connected
    await em.subscribe(env.keys["test"], ch)
    await em.publish(env.keys["test"], ch, bytes(60000), qos=1)
    assert len((await take(em, 1))[0].binary) == 60000
    await em.disconnect()
    # reconnect off: a refused connection raises from connect(), as the sync client does.
    e = await raises(OSError, aio.connect(aopts(env, port=env.refused_port)))
    # lwIP reports a refused connect as a reset (ECONNRESET), POSIX as ECONNREFUSED.
    assert e.args[0] in (errno.ECONNREFUSED, errno.ECONNRESET, -errno.ECONNREFUSED), e


def case_aio_error_paths(env):
    run(_errors, env)


async def _share_group(env):
    group, k = env.share_group, env.keys["share"]
    a_got, b_got = [], []
    a = await aio.connect(aopts(env))
    b = await aio.connect(aopts(env))
    await a.subscribe_with_group(k, "test/share/", group, handler=a_got.append)
    await b.subscribe_with_group(k, "test/share/", group, handler=b_got.append)
    pub = await aio.connect(aopts(env))
    n = 20
    for i in range(n):
        await pub.publish(env.keys["test"], "test/share/", "s%d" % i, qos=1)
    await until(lambda: len(a_got) + len(b_got) >= n, "%d shared messages" % n)
    await asyncio.sleep(0.3)
    pa, pb = set(m.binary for m in a_got), set(m.binary for m in b_got)
    assert len(a_got) + len(b_got) == n and not (pa & pb), (pa, pb)
    e = await raises(emitter_micro.EmitterError, b.subscribe_with_group(env.keys["test"], "test/share/", group))
    assert e.status == 401, e.status
    for c in (a, b, pub):
        await c.disconnect()


def case_aio_share_group(env):
    run(_share_group, env)


async def _will(env):
    k = env.keys["test"]
    ch = "test/%s/will/" % uid(env, "a")
    watcher = await aio.connect(aopts(env))
    await watcher.subscribe(k, ch)
    dev = await aio.connect(aopts(env, will={"key": k, "channel": ch, "message": {"gone": env.run}}, username="dev"))
    await dev.publish(k, ch, "alive", qos=1)
    await dev.disconnect()  # the broker sends the will even on a clean DISCONNECT
    got = await take(watcher, 2)
    assert got[0].binary == b"alive" and got[1].asObject() == {"gone": env.run}, [m.binary for m in got]
    await watcher.disconnect()


def case_aio_last_will(env):
    run(_will, env)


async def _tls(env):
    k = env.keys["test"]
    ch = "test/%s/tls/" % uid(env, "a")
    o = {"host": env.get("tls_host", "localhost"), "port": env.tls_port, "secure": True, "ca": env.ca_der,
         "timeout": 5, "reconnect": False}
    em = await aio.connect(o)
    assert em.connected
    await em.subscribe(k, ch)
    await em.publish(k, ch, "over tls", qos=1)
    assert (await take(em, 1))[0].binary == b"over tls"
    assert (await em.me())["status"] == 200
    await em.disconnect()
    # A wrong CA: the handshake fails and connect() raises.
    o2 = dict(o, ca=None, verify=True)
    e = await raises(ValueError, aio.connect(o2))  # no CA, verify on: refused before any traffic
    assert "ca" in str(e), e


def case_aio_tls(env):
    run(_tls, env)


# --- the link task: reconnect, resubscribe, the queue ------------------------------------
async def _reconnect(env):
    k = env.keys["test"]
    ch = "test/%s/rc/" % uid(env, "a")
    seen = []
    em = aio.Emitter(aopts(env, port=env.proxy_port, reconnect=True, backoff_ms=(100, 400), keepalive=2, timeout=2))
    em.on("connect", lambda: seen.append("connect"))
    em.on("disconnect", lambda: seen.append("disconnect"))
    em.on("error", lambda e: seen.append("error"))
    await em.connect()
    await em.subscribe(k, ch)
    watcher = await aio.connect(aopts(env))
    await watcher.subscribe(k, ch)
    proxy_enabled(env, False)  # the live link cut, new ones refused: the broker unreachable
    await until(lambda: "disconnect" in seen, "the disconnect event")
    assert not em.up.is_set() and not em.connected
    # While the link is down, publishes queue (QoS 1 returns at once) ...
    for i in range(3):
        await em.publish(k, ch, "queued-%d" % i, qos=1)
    assert em.pending() == 3
    await asyncio.sleep(0.5)  # a few refused attempts
    assert "error" in seen and not em.connected
    proxy_enabled(env, True)
    await asyncio.wait_for(em.up.wait(), 5)
    # ... and go out once it is back, in order; the subscription is back too (resubscribed).
    assert await em.flush(5000) is True and em.pending() == 0
    got = await take(watcher, 3)
    assert [m.binary for m in got] == [b"queued-0", b"queued-1", b"queued-2"], [m.binary for m in got]
    await watcher.publish(k, ch, "after the reconnect", qos=1)
    mine = [m.binary for m in await take(em, 4)]
    assert mine[-1] == b"after the reconnect", mine
    assert seen.count("connect") >= 2 and seen.count("disconnect") >= 1, seen
    await em.disconnect()
    await watcher.disconnect()


def case_aio_reconnect_resubscribe_and_queue(env):
    run(_reconnect, env)


async def _unreachable_at_start(env):
    k = env.keys["test"]
    ch = "test/%s/boot/" % uid(env, "a")
    errors = []
    proxy_enabled(env, False)  # the broker unreachable when the device starts
    em = aio.Emitter(aopts(env, port=env.proxy_port, reconnect=True, backoff_ms=(100, 400)))
    em.on("error", errors.append)
    assert await em.connect() is em  # reconnect on: the failure is told, and retried by the link task
    assert not em.connected and not em.up.is_set() and errors, errors
    await em.subscribe(k, ch)  # recorded: sent once the link is up
    await em.publish(k, ch, "early", qos=1)  # queued: returns at once
    assert em.pending() == 1
    e = await raises(OSError, em.me(timeout_ms=300))  # a request waits for the link, within its timeout
    assert e.args[0] == 110, e
    proxy_enabled(env, True)
    ans = await em.me(timeout_ms=5000)  # waits for the link, then for the answer
    assert ans["status"] == 200 and em.connected, ans
    assert await em.flush(5000) is True
    got = await take(em, 1)  # subscribed before the queue went out: its own message comes back
    assert got[0].binary == b"early", got[0].binary
    await em.disconnect()


def case_aio_broker_unreachable_at_start(env):
    run(_unreachable_at_start, env)
