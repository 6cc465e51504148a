"""emitter_micro.aio under link faults, with a task ticking every 10 ms: no task is held up by the network.

Run by host_tests/aio/test_aio.py (not auto-discovered: these need its controller) on
every runtime, with their own real broker and a Toxiproxy proxy in front of it.
The controller does what the device asks over a line on env.control_port
(`latency MS`, `bandwidth KBPS`, `upbandwidth KBPS`, `halfopen`, `clear`, `stop`, `start`), asked through asyncio
streams so the asking holds up nothing either. Each fault prints
`GAP <fault> worst=<ms> ticks=<n> ...`: the longest the ticker waited.
"""
import time

import asyncio

from bs_util import as_env, uid
from emitter_micro import aio

BOUND_MS = 250  # generous: the link's timeout (2 s) must never be spent blocking


class Ticker:
    """Wakes every 10 ms and keeps the longest gap between two wakes."""

    def __init__(self):
        self.worst = self.ticks = 0
        self.last = time.ticks_ms()

    async def run(self):
        while True:
            await asyncio.sleep(0.01)
            now = time.ticks_ms()
            gap = time.ticks_diff(now, self.last)
            self.last = now
            self.ticks += 1
            if gap > self.worst:
                self.worst = gap

    def report(self, fault, extra=""):
        print("GAP %s worst=%d ticks=%d %s" % (fault, self.worst, self.ticks, extra))
        assert self.worst < BOUND_MS, "%s: the ticker waited %d ms" % (fault, self.worst)


async def control(env, cmd):
    """Ask the test's controller (broker stop/start, toxics) without blocking the loop."""
    r, w = await asyncio.open_connection(env.host, env.control_port)
    w.write((cmd + "\n").encode())
    await w.drain()
    line = await r.readline()
    w.close()
    await w.wait_closed()
    assert line.strip() == b"ok", "controller said %r to %r" % (line, cmd)


async def until(cond, what, ms):
    t0 = time.ticks_ms()
    while not cond():
        if time.ticks_diff(time.ticks_ms(), t0) > ms:
            raise AssertionError("timed out after %d ms waiting for %s" % (ms, what))
        await asyncio.sleep(0.02)


def opts(env, port, **extra):
    o = {"host": env.host, "port": port, "secure": False, "timeout": 2, "keepalive": 2,
         "backoff_ms": (200, 1000), "message_queue": 64}
    o.update(extra)
    return o


def events(em):
    seen = []
    for name in ("connect", "disconnect"):
        em.on(name, lambda name=name: seen.append(name))
    em.on("error", lambda e: seen.append("error"))
    return seen


def run(main, env):
    asyncio.run(main(as_env(env)))


# --- QoS 1 publishes waiting for slow acks -------------------------------------------------
async def _slow_acks(env):
    k = env.keys["test"]
    ch = "test/%s/slow/" % uid(env, "f")
    tick = Ticker()
    t = asyncio.create_task(tick.run())
    # Keepalive 10 s: with the broker 2.5 s late below, a keepalive ping sent as the latency goes on is
    # rightly taken for a dead link (no answer within the 2 s timeout), which is not what this case tests.
    em = await aio.connect(opts(env, env.proxy_port, keepalive=10))
    why = []
    em.on("error", lambda e: why.append(e.get("message")))
    em.on("disconnect", lambda: why.append("disconnect"))
    await em.subscribe(k, ch)
    # On a link that is up, or the waits below would end with the link, not by timeout. lwip32's first
    # connect timed out here now and then until its join waited for the gateway (docs/lwip.md).
    await asyncio.wait_for(em.up.wait(), 10)
    await asyncio.sleep(0.1)
    tick.report("baseline", "(connect, subscribe)")
    await control(env, "latency 400")  # every packet from the broker 400 ms late
    tick.worst = 0
    took = []
    for i in range(8):
        t0 = time.ticks_ms()
        await em.publish(k, ch, "slow-%d" % i, qos=1)
        took.append(time.ticks_diff(time.ticks_ms(), t0))
    # A request whose answer comes later than its timeout: OSError(110), the link stays.
    e = None
    try:
        await em.me(timeout_ms=150)
    except OSError as x:
        e = x
    assert e is not None and e.args[0] == 110, e
    # Acks later than the timeout (2 s): subscribe and a QoS 1 publish raise OSError(110); their
    # acks, when they come, match nothing any more and are dropped.
    await control(env, "clear")
    await control(env, "latency 2500")
    codes = []
    for aw in (em.subscribe(k, ch + "late/"), em.publish(k, ch + "late/", "late", qos=1)):
        try:
            await aw
            codes.append(None)
        except OSError as x:
            codes.append(x.args[0])
    assert codes == [110, 110], (codes, why)
    tick.report("slow_acks", "qos1_ms=%s" % took)
    assert min(took) >= 350, took  # each publish waited for its late PUBACK
    await control(env, "clear")
    await asyncio.sleep(3)  # the late acks arrive and are dropped
    got = [m.binary for m in em.inbox]
    assert got[:8] == [("slow-%d" % i).encode() for i in range(8)], got
    assert em.connected and em.up.is_set() and (await em.me())["status"] == 200
    await em.disconnect()
    t.cancel()


def fault_slow_acks(env):
    run(_slow_acks, env)


# --- the broker stopped and restarted ------------------------------------------------------
async def _broker_restart(env):
    k = env.keys["test"]
    ch = "test/%s/restart/" % uid(env, "f")
    tick = Ticker()
    t = asyncio.create_task(tick.run())
    em = await aio.connect(opts(env, env.port))
    seen = events(em)
    await em.subscribe(k, ch)
    sent = []
    state = {"go": True}

    async def publisher():
        i = 0
        while state["go"]:
            i += 1
            await em.publish(k, ch, "r%d" % i, qos=1)  # acked, or queued while the broker is away
            sent.append(i)
            await asyncio.sleep(0.05)

    p = asyncio.create_task(publisher())
    await asyncio.sleep(0.5)
    tick.worst = 0
    await control(env, "stop")
    await until(lambda: "disconnect" in seen, "the link to notice the stop", 5000)
    await asyncio.sleep(1.5)  # refused attempts with backoff; publishes queue meanwhile
    queued = em.pending()
    assert queued > 0 and not em.connected, (queued, seen)
    await control(env, "start")
    await asyncio.wait_for(em.up.wait(), 10)
    state["go"] = False
    await p
    assert await em.flush(10000) is True
    tick.report("broker_restart", "queued_while_down=%d sent=%d events=%s" % (queued, len(sent), seen))
    # Resubscribed before the queue went out: every reading comes back, once, in order.
    await until(lambda: len(em.inbox) >= len(sent) or em.missed, "the echoes", 5000)
    got = [int(m.binary[1:]) for m in em.inbox]
    assert got[-len(sent):] == sent and em.missed == 0 and em.dropped == 0, (got, sent, em.missed, em.dropped)
    await em.disconnect()
    t.cancel()


def fault_broker_restart(env):
    run(_broker_restart, env)


# --- a half-open link detected ---------------------------------------------------------------
async def _half_open(env):
    k = env.keys["test"]
    ch = "test/%s/half/" % uid(env, "f")
    tick = Ticker()
    t = asyncio.create_task(tick.run())
    em = await aio.connect(opts(env, env.proxy_port))
    seen = events(em)
    why = []
    em.on("error", lambda e: (seen.append("error"), why.append(e.get("message"))))
    await em.subscribe(k, ch)
    # What this case measures starts on a link that is up: with no link to lose there is no 'disconnect'
    # to detect (lwip32's first connect timed out now and then before its join met the gateway).
    await asyncio.wait_for(em.up.wait(), 10)
    await asyncio.sleep(0.2)
    before = seen[:]
    del seen[:]
    tick.worst = 0
    await control(env, "halfopen")  # nothing gets through either way; both ends stay open
    t0 = time.ticks_ms()
    outcome = []

    async def publisher():
        for i in range(3):
            try:
                await em.publish(k, ch, "h%d" % i, qos=1)
                outcome.append("queued" if em.pending() else "acked")
            except OSError as e:
                outcome.append(e.args[0])

    await publisher()
    await until(lambda: "disconnect" in seen, "half-open detection", 10000)
    detected = time.ticks_diff(time.ticks_ms(), t0)
    await asyncio.sleep(1)  # attempts that get no CONNACK, bounded by the timeout
    assert not em.connected and 110 in outcome, (outcome, seen)
    await control(env, "clear")
    await asyncio.wait_for(em.up.wait(), 10)
    assert await em.flush(5000) is True
    assert seen.count("error") >= 2, seen  # the loss, and an attempt that got no CONNACK within the timeout
    tick.report("half_open", "detected_after_ms=%d publishes=%s events=%s before=%s errors=%s"
                % (detected, outcome, seen, before, why))
    await em.publish(k, ch, "after", qos=1)
    await until(lambda: any(m.binary == b"after" for m in em.inbox), "traffic after the reconnect", 5000)
    await em.disconnect()
    t.cancel()


def fault_half_open(env):
    run(_half_open, env)


# --- a slow link that delivers: a packet longer in transit than the timeout is not a dead link -------
async def _slow_link(env):
    k = env.keys["test"]
    ch = "test/%s/bw/" % uid(env, "f")
    tick = Ticker()
    t = asyncio.create_task(tick.run())
    em = await aio.connect(opts(env, env.proxy_port))
    seen = events(em)
    await em.subscribe(k, ch)
    # What this case measures starts on a link that is up: on a loaded machine the lwIP build once lost
    # it before the toxic (seen as the 60 KB publish refused by the queue's bound while offline).
    await asyncio.wait_for(em.up.wait(), 10)
    before = seen[:]
    del seen[:]
    await control(env, "bandwidth 16")  # 16 KB/s from the broker: 60 KB takes ~4 s, the timeout is 2 s
    tick.worst = 0
    big = bytes(range(256)) * 234  # 59,904 bytes
    assert em.connected, ("the link went before the slow part", before, seen)
    t0 = time.ticks_ms()
    # The broker sends the echo before the PUBACK: the wait lasts while the echo arrives, not the link.
    await em.publish(k, ch, big, qos=1)
    took = time.ticks_diff(time.ticks_ms(), t0)
    assert em.inbox and em.inbox[0].binary == big and "disconnect" not in seen, (em.inbox, seen)
    tick.report("slow_link", "qos1_60KB_ms=%d events=%s before=%s" % (took, seen, before))
    assert took > 3000, took  # it really crawled in, for longer than the timeout
    await control(env, "clear")
    await em.disconnect()
    t.cancel()


def fault_slow_link(env):
    run(_slow_link, env)


# --- an uplink slower than the publishes: what waits for the socket goes out whole and in order --------
async def _slow_uplink(env):
    k = env.keys["test"]
    ch = "test/%s/up/" % uid(env, "f")
    tick = Ticker()
    t = asyncio.create_task(tick.run())
    em = await aio.connect(opts(env, env.proxy_port))
    seen = events(em)
    got = []
    await em.subscribe(k, ch, handler=lambda m: got.append(int(m.binary[:5])))
    # On a link that is up: 900 publishes into the queue of a client still reconnecting overflow it
    # (lwip32's first connect timed out now and then before its join met the gateway, docs/lwip.md).
    await asyncio.wait_for(em.up.wait(), 10)
    streams = aio.OWN_SOCKET  # MicroPython: written straight to the socket, the rest by a drain task
    if streams:
        try:  # a board's send buffer is a few KB (lwIP's TCP_SND_BUF); Linux's grows to MBs
            import socket
            em._w.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_SNDBUF", 7), 4096)  # 7: Linux
        except (AttributeError, OSError):
            pass
    await control(env, "upbandwidth 96")  # 96 KB/s to the broker: the socket's buffers fill, then it is behind
    tick.worst = 0
    pad = b"u" * 995
    n, behind = 900, 0
    t0 = time.ticks_ms()
    for i in range(n):  # 900 KB: more than the buffers between here and the broker (Toxiproxy, the kernel)
        await em.publish(k, ch, b"%05d" % i + pad)
        if em._wr is not None:
            behind += 1  # written while the drain task had bytes the socket had not taken
    last, quiet = len(got), time.ticks_ms()
    while len(got) < n and "disconnect" not in seen and time.ticks_diff(time.ticks_ms(), quiet) < 15000:
        await asyncio.sleep(0.1)  # as long as messages keep coming back
        if len(got) != last:
            last, quiet = len(got), time.ticks_ms()
    took = time.ticks_diff(time.ticks_ms(), t0)
    missing = [i for i in range(n) if i not in got] if got != list(range(n)) else []
    assert got == list(range(n)) and "disconnect" not in seen, (
        "%d of %d back in %d ms, behind for %d, pending %d, out %d, missing %s, events %s"
        % (len(got), n, took, behind, em.pending(), len(em._out), missing[:10], seen[:20]))
    tick.report("slow_uplink", "published_behind=%d of %d in %d ms" % (behind, n, took))
    assert behind or not streams, "the socket never fell behind: the case did not test the drain"
    await control(env, "clear")
    await em.disconnect()
    t.cancel()


def fault_slow_uplink(env):
    run(_slow_uplink, env)
