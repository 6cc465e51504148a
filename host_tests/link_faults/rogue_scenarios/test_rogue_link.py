"""Bytes no broker sends, on the scripted rogue peer (host_tests/support/rogue_peer.py): garbage, a packet
announced larger than any heap, a PUBACK withheld until the link is given up.

Everything a real broker shows is checked against it instead (<feature>/bs_*.py).
"""
import random
import time

from rogue_peer import KEY, client

FAST = {"backoff_ms": (20, 80), "timeout": 0.05}


def run_until(em, cond, ms=3000):
    end = time.ticks_add(time.ticks_ms(), ms)
    while not cond():
        assert time.ticks_diff(end, time.ticks_ms()) > 0, "condition not reached in time"
        em.loop(20)


def test_garbage_from_network_never_hangs_or_raises():
    rnd = random.getrandbits
    for seed in range(60):
        random.seed(seed)
        em, peer = client(dict(FAST, reconnect=True))
        em.on("error", lambda e: None)
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
    # A publish-only device reads through umqtt.simple, which asks for the buffer (MemoryError); a
    # subscribing one through the parser, which refuses the length (past the broker's 64 KB).
    msg = errs[0]["message"]
    assert not em.connected and "lost" in msg and ("MemoryError" in msg or "packet of 268435455" in msg), errs
    peer.inbox = bytearray()
    peer.closed = False
    run_until(em, lambda: em.connected)


def test_qos1_unacked_stays_queued():
    # The broker got the publish but its PUBACK never came: sent again on the next link (at least once).
    em, peer = client(FAST)
    peer.mute = True  # the PUBACK never comes
    em.publish(KEY, "t/", "keep", qos=1)
    assert em.pending() == 1 and not em.connected
    peer.mute = False
    assert em.flush(3000)
    assert [p.payload() for p in peer.of(0x30)] == [b"keep", b"keep"]
