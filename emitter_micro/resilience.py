"""Resilience: reconnect with backoff and jitter, and the queue of publishes that wait for the link."""
import errno  # error numbers differ by port (ESP32: ENOTCONN 128, not 107): never hard-coded
import random
import time

from micropython import const


def down(em, err):
    """The link failed: close it, tell, and retry later (or raise, with reconnect off)."""
    if em._link:
        try:
            em._link.close()
        except OSError:
            pass
        em._link = None
    # Said, never silent: why the link went (timeout, reset, garbage, MemoryError) or why an attempt failed.
    what = "link to %s lost" if em.connected else "connect to %s failed"
    em._emit("error", {"status": 0, "message": (what + ": %r") % (em.hosts[em._host_i], err)})
    if em.connected:
        em.connected = False
        em._emit("disconnect")
    if not em.reconnect or em._closed:
        raise err
    next_retry(em)


def next_retry(em):
    """Schedule the next connection attempt: the delay doubles up to a bound, half of it random."""
    lo, hi = em._options.get("backoff_ms", (500, 30000))
    em._delay = d = min(hi, max(lo, 2 * em._delay))
    em._retry = time.ticks_add(time.ticks_ms(), d // 2 + random.getrandbits(20) % (d // 2 + 1))


def retry(em, timeout_ms):
    """Wait within timeout_ms for the next attempt and make it (bounded by the socket timeout)."""
    wait = time.ticks_diff(em._retry, time.ticks_ms())
    if wait > timeout_ms:
        time.sleep_ms(timeout_ms)
        return
    if wait > 0:
        time.sleep_ms(wait)
    try:
        em._open()
    except Exception as e:
        em._down(e)


def flush(em, timeout_ms):
    """Drive the loop until the queue is empty: True, or False on timeout."""
    end = time.ticks_add(time.ticks_ms(), timeout_ms)
    while em.pending():
        left = time.ticks_diff(end, time.ticks_ms())
        if left <= 0:
            return False
        if em.connected:
            em._backlog.drain(em)
        em.loop(min(left, 100) if em.pending() else 0)
    return True


def enqueue(em, t, msg, qos, retain):
    """Queue a publish the link cannot take now; it goes out, in order, when it can."""
    if not em.connected and (not em.reconnect or em._closed):
        raise OSError(errno.ENOTCONN)
    if not em._backlog:
        em._backlog = Backlog(em._options)
    em._backlog.add(em, t, msg, qos, retain)
    if em.connected and em._until is None:
        em._backlog.drain(em)


# What a queued publish costs the heap beyond its payload on a 32-bit board: its tuple (32 B), the
# header of its bytes copy (16 B), its list slot and the rounding to 16-byte blocks.
_ENTRY = const(64)


class Backlog:
    """Publishes waiting for the link, oldest first, bounded by the heap they take (and by count if asked)."""

    def __init__(self, options):
        self.most = options.get("queue_size")
        self.room = options.get("queue_bytes", 16384)
        self.q = []
        self.size = 0

    def add(self, em, t, msg, qos, retain):
        cost = len(msg) + _ENTRY
        if cost > self.room:
            raise ValueError("message of %d bytes is larger than the queue (queue_bytes=%d, %d per entry)"
                             % (len(msg), self.room, _ENTRY))
        # A copy: the caller may reuse its buffer.
        self.q.append((t, bytes(msg), qos, retain))
        self.size += cost
        while self.size > self.room or self.most and len(self.q) > self.most:
            t, msg = self.q.pop(0)[:2]
            self.size -= len(msg) + _ENTRY
            em.dropped += 1
            em._emit("error", {"status": 0, "message": "queue full: dropped the oldest publish, to %s" % t[t.find(b"/") + 1:].decode()})

    def drain(self, em):
        """Send what waits, in order; QoS 1 entries leave only once acknowledged."""
        q = self.q
        while q and em.connected:
            t, msg, qos, retain = q[0]
            try:
                em._publish(t, msg, qos, retain)
            except Exception as e:
                em._down(e)
                return
            q.pop(0)
            self.size -= len(msg) + _ENTRY
        if not q:
            em._backlog = None  # empty: publishes take the direct path again
