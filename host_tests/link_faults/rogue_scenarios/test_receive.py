"""The receive path of a subscribing device (emitter_micro/receive.py) on the in-process fake socket:
many packets in one read, packets split across reads, packets larger than the buffer or the heap,
torn packets, garbage, acks read through the buffer, handlers that publish or loop meanwhile."""
import errno
import json
import random
import time

from rogue_peer import KEY, client, packet, publish

FAST = {"backoff_ms": (20, 80), "timeout": 0.05}


def _subscribed(options=None, handler=None):
    em, peer = client(options)
    got = []
    em.subscribe(KEY, "a/", handler=handler or (lambda m: got.append(m.asBinary())))
    return em, peer, got


def _count_reads(peer):
    """Count the reads the client makes from its socket."""
    sock = peer.sockets[-1]
    reads = [0]
    read = sock.read

    def counted(n):
        reads[0] += 1
        return read(n)
    sock.read = counted
    return reads


def _deliver_in_pieces(peer, data, size):
    """The peer's bytes arrive size bytes at a time: one piece per read, or as many as a blocking read waits for."""
    pieces = [data[k:k + size] for k in range(0, len(data), size)]
    sock = peer.sockets[-1]
    read = sock.read

    def arriving(n):
        if pieces:
            peer.feed(pieces.pop(0))
        while sock.blocking and pieces and len(peer.inbox) < n:
            peer.feed(pieces.pop(0))
        return read(n)
    sock.read = arriving
    return pieces


def _run_until(em, cond, ms=3000):
    end = time.ticks_add(time.ticks_ms(), ms)
    while not cond():
        assert time.ticks_diff(end, time.ticks_ms()) > 0, "condition not reached in time"
        em.loop(20)


def test_publish_only_device_has_no_receive_buffer():
    em, peer = client()
    em.publish(KEY, "t/", "x")
    em.publish(KEY, "t/", "y", qos=1)
    peer.feed(publish("emitter/error/", json.dumps({"status": 401, "message": "unauthorized"})))
    errs = []
    em.on("error", errs.append)
    em.loop()
    assert em._rx is None and errs and errs[0]["status"] == 401


def test_a_wait_that_times_out_keeps_the_link():
    # A socket with nothing to poll waits by a read timeout: the port's ETIMEDOUT (ESP32's 116, Linux's
    # 110) means nothing came, not a dead link: umqtt.simple's read (publish-only) and the buffer's.
    em, peer = client({"reconnect": False})
    errs = []
    em.on("error", errs.append)
    t0 = time.ticks_ms()
    assert em.loop(100) == 0 and em._rx is None
    em.subscribe(KEY, "a/")
    assert em.loop(100) == 0 and em._rx is not None
    assert em.connected and not errs, errs
    assert time.ticks_diff(time.ticks_ms(), t0) >= 150  # both were waited out


def test_many_packets_in_one_read():
    em, peer, got = _subscribed()
    reads = _count_reads(peer)
    for k in range(20):
        peer.feed(publish("a/", "m%d" % k))  # 9-10 bytes each: all of them fit the buffer
    assert em.loop() == 20
    assert got == [b"m%d" % k for k in range(20)]
    assert reads[0] == 1, reads
    data = b"".join(publish("a/", "m%d" % k) for k in range(20, 400))
    peer.feed(data)
    assert em.loop() == 380 and got[-1] == b"m399"
    assert reads[0] <= 1 + len(data) // len(em._rx.p.buf) + 1, reads  # reads go by the buffer, not by the packet


def test_packets_split_across_reads():
    for size in (1, 2, 3, 7, 50, 300):
        em, peer, got = _subscribed()
        data = b"".join(publish("a/" if k % 3 else "a/b/", b"%d:" % k + b"x" * (k * 37 % 700)) for k in range(30))
        pieces = _deliver_in_pieces(peer, data, size)
        _run_until(em, lambda: len(got) == 30 or not em.connected)
        assert em.connected and not pieces, size
        assert got == [b"%d:" % k + b"x" * (k * 37 % 700) for k in range(30)], size


def test_packets_larger_than_the_buffer():
    em, peer, got = _subscribed()
    sizes = [3000, 20, 10000, 5, 1500]
    for n in sizes:
        peer.feed(publish("a/", bytes(k & 0xFF for k in range(n))))
    assert em.loop() == 5
    assert [len(m) for m in got] == sizes and got[2] == bytes(k & 0xFF for k in range(10000))
    assert len(em._rx.p.buf) <= 4096  # the buffer of the 10 KB packet went with it
    peer.feed(publish("a/", "small"))
    assert em.loop() == 1 and got[-1] == b"small" and em.connected


def test_torn_packet_drops_the_link_and_it_comes_back():
    em, peer, got = _subscribed(FAST)
    errs = []
    em.on("error", errs.append)
    whole = publish("a/", "never whole")
    peer.feed(publish("a/", "first") + whole[:6])  # the rest never comes
    em.loop()
    assert got == [b"first"] and not em.connected
    assert "lost" in errs[0]["message"] and str(errno.ETIMEDOUT) in errs[0]["message"], errs
    _run_until(em, lambda: em.connected)
    peer.feed(publish("a/", "after"))
    em.loop()
    assert got == [b"first", b"after"]  # nothing of the torn packet is left over


def test_packet_longer_than_the_broker_sends_drops_the_link_and_it_comes_back():
    """A length past the broker's 64 KB limit is refused by the length alone: no buffer is asked for."""
    em, peer, got = _subscribed(FAST)
    errs = []
    em.on("error", errs.append)
    peer.feed(publish("a/", "before") + b"\x30\xff\xff\xff\x7f\x00\x02a/")  # 268 MB announced
    em.loop()
    assert got == [b"before"] and not em.connected
    msg = errs[0]["message"]
    assert "lost" in msg and "packet of 268435455 bytes" in msg and "MemoryError" not in msg, errs
    peer.inbox = bytearray()
    _run_until(em, lambda: em.connected)
    peer.feed(publish("a/", "after"))
    em.loop()
    assert got == [b"before", b"after"]


def test_garbage_after_subscribing_never_hangs_or_raises():
    rnd = random.getrandbits
    for seed in range(60):
        random.seed(seed)
        em, peer, got = _subscribed(FAST)
        errs = []
        em.on("error", errs.append)
        junk = bytes(rnd(8) for _ in range(1 + rnd(6)))
        if seed % 3 == 0:
            junk = b"\x30" + junk  # a PUBLISH header with random length and body
        elif seed % 3 == 1:
            junk = b"\x32\x03\x00\x05a" + junk  # a topic longer than its packet
        peer.feed(junk)
        em.loop()  # must return: no exception, no block
        if not em.connected:
            assert errs and "lost" in errs[0]["message"], errs


def test_qos1_and_qos2_publish_from_the_peer():
    em, peer, got = _subscribed(FAST)
    errs = []
    em.on("error", errs.append)
    peer.feed(publish("a/", "q1", qos=1, pid=7))
    assert em.loop() == 1 and got == [b"q1"]
    assert [p.pid() for p in peer.of(0x40)] == [7]  # acknowledged
    peer.feed(publish("a/", "q2", qos=2, pid=8))
    em.loop()
    assert got == [b"q1"] and not em.connected and "QoS 2" in errs[0]["message"], errs


def test_acks_read_through_the_buffer_and_messages_around_them_kept_in_order():
    em, peer, got = _subscribed()
    answer = peer._answer

    def then_more(p):
        answer(p)
        if p.kind == 0x30:
            peer.feed(publish("a/", "after the ack"))
    peer._answer = then_more
    peer.feed(publish("a/", "before"))
    em.publish(KEY, "a/", "echo", qos=1)  # the echo comes before the PUBACK, the last one after it
    assert got == [b"before", b"echo"]
    assert em.loop() == 1 and got[-1] == b"after the ack"
    em.subscribe(KEY, "b/")  # SUBACK and UNSUBACK through the buffer too
    em.unsubscribe(KEY, "b/")
    assert got[-1] == b"after the ack" and em.connected
    assert len(peer.of(0x80)) == 2 and len(peer.of(0xA0)) == 1


def test_handlers_publish_and_loop_while_packets_wait_in_the_buffer():
    em, peer = client()
    seen = []

    def handler(m):
        s = m.asString()
        seen.append(s)
        if s.startswith("in"):
            k = s[2:]
            em.publish(KEY, "out/", "q0-" + k)             # QoS 0: the client's own buffer
            em.publish(KEY, "out/", "q1-" + k, qos=1)      # QoS 1: its PUBACK is read while more wait
            if k == "3":
                em.loop()                                  # a handler that loops
            if k == "5":
                raise ValueError("handler fails")          # reported, the rest still dispatched
    errs = []
    em.on("error", errs.append)
    em.subscribe(KEY, "in/", handler=handler)
    data = b"".join(publish("in/", "in%d" % k) for k in range(8)) + publish("in/", "in8" + "x" * 600)
    pieces = _deliver_in_pieces(peer, data, 25)
    _run_until(em, lambda: len(seen) == 9)
    assert em.flush(1000) and not pieces
    assert seen == ["in%d" % k for k in range(8)] + ["in8" + "x" * 600]  # each once, in order
    out = sorted(p.payload() for p in peer.of(0x30))
    assert out == sorted([b"q0-%d" % k for k in range(8)] + [b"q1-%d" % k for k in range(8)] +
                         [b"q0-8" + b"x" * 600, b"q1-8" + b"x" * 600])
    assert len(errs) == 1 and "handler fails" in errs[0]["message"] and em.connected


def test_keepalive_through_the_buffer():
    em, peer, got = _subscribed({"keepalive": 1, "timeout": 0.2, "reconnect": False})
    time.sleep_ms(1050)
    em.loop()
    assert peer.kinds()[-1] == 0xC0  # PINGREQ
    time.sleep_ms(250)
    em.loop()  # the PINGRESP was read: no half-open link
    assert em.connected
    peer.feed(packet(0x90, b"\x00\x63\x00"))  # a late SUBACK nothing waits for
    peer.feed(publish("a/", "x"))
    assert em.loop() == 1 and em.connected


def test_handler_that_disconnects_stops_the_dispatch():
    em, peer = client()
    seen, downs = [], []
    em.on("disconnect", lambda: downs.append(1))

    def handler(m):
        seen.append(m.asString())
        if m.asString() == "m0":
            em.disconnect()
    em.subscribe(KEY, "a/", handler=handler)
    for k in range(5):
        peer.feed(publish("a/", "m%d" % k))
    em.loop()  # no exception: the rest were read with the link, and go with it
    assert seen == ["m0"] and downs == [1] and not em.connected
    em.connect()
    peer.feed(publish("a/", "again"))
    em.loop()
    assert em.connected and seen == ["m0", "again"]
