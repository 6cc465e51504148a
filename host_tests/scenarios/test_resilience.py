"""Resilience scenarios (reconnect, queue, failover, garbage input) on the in-process fake socket."""
import random
import time

from fakepeer import KEY, Peer, client, raises

FAST = {"backoff_ms": (20, 80), "timeout": 0.05}


def run_until(em, cond, ms=3000):
    end = time.ticks_add(time.ticks_ms(), ms)
    while not cond():
        assert time.ticks_diff(end, time.ticks_ms()) > 0, "condition not reached in time"
        em.loop(20)


def test_reconnect_resubscribes_and_sends_queue():
    em, peer = client(FAST)
    ups, downs = [], []
    em.on("connect", lambda: ups.append(1))
    em.on("disconnect", lambda: downs.append(1))
    em.loop()
    em.subscribe(KEY, "cmd/")
    peer.closed = True  # the broker went away
    em.loop()
    assert not em.connected and downs == [1]
    em.publish(KEY, "t/", "r1")          # no exception while down
    em.publish(KEY, "t/", "r2", qos=1)
    assert em.pending() == 2
    peer.closed = False
    run_until(em, lambda: em.connected)
    assert ups == [1, 1]
    assert peer.connects == 2
    subs = [p.topic() for p in peer.of(0x80)]
    assert subs == [(KEY + "/cmd/").encode()] * 2
    assert [p.payload() for p in peer.of(0x30)] == [b"r1", b"r2"]
    assert em.pending() == 0


def test_broker_down_at_boot():
    peer = Peer()
    peer.refuse = True
    em, peer = client(FAST, peer, connect=False)
    errs = []
    em.on("error", errs.append)
    em.connect()
    assert not em.connected
    assert errs and "connect to 127.0.0.1 failed" in errs[0]["message"]  # told, not silent
    for i in range(3):
        em.publish(KEY, "t/", "boot%d" % i, qos=1)
    assert em.pending() == 3
    peer.refuse = False
    assert em.flush(3000)
    assert [p.payload() for p in peer.of(0x30)] == [b"boot0", b"boot1", b"boot2"]


def test_reconnect_off_raises():
    peer = Peer()
    peer.refuse = True
    em, peer = client({"reconnect": False}, peer, connect=False)
    raises(OSError, em.connect)
    raises(OSError, em.publish, KEY, "a/", "x")


def test_loop_bounded_while_down():
    peer = Peer()
    peer.refuse = True
    em, peer = client({"backoff_ms": (5000, 10000)}, peer)
    t0 = time.ticks_ms()
    em.loop(100)
    assert time.ticks_diff(time.ticks_ms(), t0) < 1000


def test_backoff_grows_and_is_bounded():
    peer = Peer()
    peer.refuse = True
    em, peer = client({"backoff_ms": (10, 40)}, peer)
    delays = []
    for i in range(6):
        delays.append(em._delay)
        em.loop(200)
    assert delays[0] == 10 and max(delays) == 40 and delays == sorted(delays)
    assert len(peer.sockets) >= 5


def test_failover_moves_to_next_host():
    em, peer = client(dict(FAST, host=["10.0.0.1:1883", "127.0.0.1", "h3:9"]))
    assert peer.addr == ("10.0.0.1", 1883)
    peer.closed = True
    em.loop()
    peer.closed = False
    run_until(em, lambda: em.connected)
    assert peer.addr == ("127.0.0.1", 8080)
    peer.closed = True
    em.loop()
    peer.closed = False
    run_until(em, lambda: em.connected)
    assert peer.addr == ("h3", 9)


def test_queue_overflow_drops_oldest_and_reports():
    peer = Peer()
    peer.refuse = True
    em, peer = client(dict(FAST, queue_size=3, queue_bytes=1000), peer)
    errs = []
    em.on("error", errs.append)
    for i in range(5):
        em.publish(KEY, "t/", "m%d" % i)
    em.loop()
    assert em.pending() == 3 and em.dropped == 2
    full = [e for e in errs if "queue full" in e["message"]]
    assert len(full) == 2 and KEY not in full[0]["message"]
    peer.refuse = False
    assert em.flush(3000)
    assert [p.payload() for p in peer.of(0x30)] == [b"m2", b"m3", b"m4"]


def test_queue_bytes_bound():
    peer = Peer()
    peer.refuse = True
    # An entry costs its payload and 64 bytes (tuple, bytes header, list slot): room for two of 5 bytes.
    room = 2 * (64 + 5) + 10
    em, peer = client(dict(FAST, queue_bytes=room), peer)
    em.publish(KEY, "t/", b"12345")
    em.publish(KEY, "t/", b"67890")
    assert em.pending() == 2 and em.dropped == 0
    em.publish(KEY, "t/", b"abc")
    assert em.pending() == 2 and em.dropped == 1
    raises(ValueError, em.publish, KEY, "t/", b"x" * (room - 64 + 1))


def test_queue_copies_reused_buffers():
    peer = Peer()
    peer.refuse = True
    em, peer = client(FAST, peer)
    buf = bytearray(b"aaaa")
    em.publish(KEY, "t/", buf)
    buf[:] = b"bbbb"
    em.publish(KEY, "t/", buf)
    peer.refuse = False
    assert em.flush(3000)
    assert [p.payload() for p in peer.of(0x30)] == [b"aaaa", b"bbbb"]


def test_qos1_unacked_stays_queued():
    em, peer = client(FAST)
    peer.mute = True  # the PUBACK never comes
    em.publish(KEY, "t/", "keep", qos=1)
    assert em.pending() == 1 and not em.connected
    peer.mute = False
    assert em.flush(3000)
    assert [p.payload() for p in peer.of(0x30)] == [b"keep", b"keep"]


def test_garbage_from_network_never_hangs_or_raises():
    rnd = random.getrandbits
    for seed in range(60):
        random.seed(seed)
        em, peer = client(dict(FAST, reconnect=True))
        errs = []
        em.on("error", errs.append)
        em.on("message", lambda m: None)
        peer.auto = False
        junk = bytes(rnd(8) for _ in range(1 + rnd(6)))
        if seed % 3 == 0:
            junk = b"\x30" + junk  # a PUBLISH header with random length and body
        peer.feed(junk)
        em.loop()  # must return: no exception, no block
        peer.auto = True


def test_oversized_packet_announced_is_survived():
    em, peer = client(FAST)
    em.on("message", lambda m: None)
    errs = []
    em.on("error", errs.append)
    peer.feed(b"\x30\xff\xff\xff\x7f\x00\x02a/")  # 268 MB announced
    em.loop()
    assert not em.connected and "MemoryError" in errs[0]["message"] and "lost" in errs[0]["message"], errs
    peer.inbox = bytearray()
    peer.closed = False
    run_until(em, lambda: em.connected)


def test_flush_false_on_timeout():
    peer = Peer()
    peer.refuse = True
    em, peer = client({"backoff_ms": (10, 20)}, peer)
    em.publish(KEY, "t/", "x")
    t0 = time.ticks_ms()
    assert em.flush(150) is False
    assert time.ticks_diff(time.ticks_ms(), t0) < 1000


def test_failed_resubscribe_is_a_failed_attempt_not_a_connection():
    em, peer = client(FAST)
    events = []
    em.on("connect", lambda: events.append("connect"))
    em.on("disconnect", lambda: events.append("disconnect"))
    em.on("error", lambda e: events.append("error"))
    em.subscribe(KEY, "cmd/")
    em.loop()
    peer.closed = True
    em.loop()
    peer.closed = False
    peer.ignore = (0x80,)  # the next connection gets no SUBACK: that attempt fails
    run_until(em, lambda: "error" in events)
    assert not em.connected
    peer.ignore = ()
    run_until(em, lambda: em.connected)
    # connect and disconnect alternate: no disconnect for a connection that never was
    seq = [e for e in events if e != "error"]
    assert seq == ["connect", "disconnect", "connect"], events


def test_qos1_publish_from_a_handler_during_subscribe():
    # The broker replays a stored command before the SUBACK; the handler answers at QoS 1.
    em, peer = client(FAST)
    t = (KEY + "/cmd/").encode()
    peer.replay[t] = [("cmd/", "ping")]
    em.subscribe(KEY, "cmd/", handler=lambda m: em.publish(KEY, "reply/", "pong", qos=1))
    assert em.connected and len(peer.of(0x80)) == 1
    em.loop()
    assert [p.payload() for p in peer.of(0x30)] == [b"pong"] and em.pending() == 0
    em.publish(KEY, "t/", "direct")
    assert em._backlog is None and peer.of(0x30)[-1].payload() == b"direct"


def test_waiting_calls_from_a_handler_during_an_ack_wait_are_refused():
    em, peer = client(FAST)
    peer.replay[(KEY + "/cmd/").encode()] = [("cmd/", "a"), ("cmd/", "b")]
    errs = []
    em.on("error", errs.append)
    calls = [lambda: em.subscribe(KEY, "other/"), lambda: em.me(timeout_ms=100)]

    def handler(m):
        calls.pop(0)()
    em.subscribe(KEY, "cmd/", handler=handler)
    assert em.connected and len(errs) == 2
    assert all("RuntimeError" in e["message"] and "ack is awaited" in e["message"] for e in errs), errs


def test_publish_and_loop_before_connect():
    em, peer = client(FAST, connect=False)
    em.publish(KEY, "t/", "early", qos=1)  # queued: nothing to send it on yet
    assert em.pending() == 1 and peer.connects == 0
    run_until(em, lambda: em.connected and not em.pending())
    assert [p.payload() for p in peer.of(0x30)] == [b"early"]
