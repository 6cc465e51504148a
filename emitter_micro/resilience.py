"""Resilience: the delay before the next connection attempt, and the queue of publishes that wait for the
link (its rules: enqueue, and what is dropped for room, told once). Imported when a link first fails or
a publish first waits."""
import random
import time

from micropython import const

# What a queued publish costs the heap beyond its payload on a 32-bit board: its tuple (32 B), the
# header of its bytes copy (16 B), its list slot and the rounding to 16-byte blocks.
_ENTRY = const(64)


class Backoff:
    """When to try again: the delay doubles up to a bound, half of it random (devices do not reconnect in step)."""

    def __init__(self, options):
        self.lo, self.hi = options.get("backoff_ms", (500, 30000))
        self.delay = 0
        self.at = time.ticks_ms()

    def next(self):
        self.delay = d = min(self.hi, max(self.lo, 2 * self.delay))
        self.at = time.ticks_add(time.ticks_ms(), d // 2 + random.getrandbits(20) % (d // 2 + 1))

    def reset(self):
        self.delay = 0

    def wait(self):
        """ms until the next attempt is due (<= 0: now)."""
        return time.ticks_diff(self.at, time.ticks_ms())


class Backlog:
    """Publishes waiting for the link, oldest first, bounded by the heap they take (and by count if asked)."""

    def __init__(self, options):
        self.most = options.get("queue_size")
        self.room = options.get("queue_bytes", 16384)
        self.q = []
        self.size = 0

    def count(self):
        return len(self.q)

    def add(self, t, msg, qos, retain, rid=None):
        """Queue a publish (topic as a packet carries it; rid: its record in the store, or None); return the
        entries dropped to make room, oldest first."""
        cost = len(msg) + _ENTRY
        if cost > self.room:
            raise ValueError("message of %d bytes is larger than the queue (queue_bytes=%d, %d per entry)"
                             % (len(msg), self.room, _ENTRY))
        self.q.append((t, bytes(msg), qos, retain, rid))  # a copy: the caller may reuse its buffer
        self.size += cost
        lost = []
        while self.size > self.room or self.most and len(self.q) > self.most:
            lost.append(self.pop())
        return lost

    def drop(self, rids):
        """Take out the entries whose records the store dropped (rids); return them."""
        keep, out = [], []
        for e in self.q:
            (out if e[4] is not None and e[4] in rids else keep).append(e)
        if out:
            self.q = keep
            for e in out:
                self.size -= len(e[1]) + _ENTRY
        return out

    def first(self):
        return self.q[0] if self.q else None

    def pop(self):
        e = self.q.pop(0)
        self.size -= len(e[1]) + _ENTRY
        return e

    def push_front(self, entries):
        """Put publishes that were sent but not acknowledged back in front, in order."""
        for e in entries:
            self.size += len(e[1]) + _ENTRY
        self.q[:0] = entries


def backlog(em):
    """em's queue, made on first use (empty again, the client drops it: publishes go direct)."""
    q = em._queue
    if q is None:
        q = em._queue = Backlog(em._options)
    return q


def enqueue(em, t, msg, qos, retain, rid=None):
    """Queue a publish the link cannot take now; it goes out, in order, when it can. rid: its record in
    the store; a QoS 0 publish is written there now (it waits), a QoS 1 one was before it was sent."""
    q = backlog(em)
    if rid is None and not qos and em._store:
        rid = em._store.keep(em, t, msg, 0, retain)
    try:
        lost = q.add(t, msg, qos, retain, rid)
    except ValueError:
        em._forget(rid)
        raise
    for e in lost:
        em._forget(e[4])
        dropped(em, e, "queue")


def dropped(em, e, bound):
    """A queued publish dropped for room (the queue's bound or the store's): counted once, told."""
    em.dropped += 1
    t = e[0][2:]
    em._emit("error", {"status": 0, "message": "%s full: dropped the oldest publish, to %s"
                                               % (bound, t[t.find(b"/") + 1:].decode())})


# The sync client's (client.Emitter's) side of it; the asyncio client drains and retries in its link task.
def drain(em):
    """Send what waits in the queue, in order; QoS 1 entries leave only once acknowledged."""
    q = em._queue
    while q.count() and em.connected:
        e = q.first()
        try:
            em._publish(e[0], e[1], e[2], e[3])
        except Exception as x:
            em._down(x)
            return
        if q.first() is e:  # else a bound dropped it while a handler ran during the PUBACK wait
            q.pop()
        em._forget(e[4])
    if not q.count():
        em._queue = None  # empty: publishes take the direct path again


def retry(em, timeout_ms):
    """Wait within timeout_ms for the next attempt and make it (bounded by the socket timeout)."""
    wait = em._backoff.wait()
    if wait > timeout_ms:
        time.sleep_ms(timeout_ms)
        return
    if wait > 0:
        time.sleep_ms(wait)
    try:
        em._open()
    except Exception as e:
        em._down(e)
