"""The asyncio client's waits for acks and answers: registered by packet id (_acks; a request's answer
in requests.Answers), expired by the link task, ended with LOST when the link goes."""
import errno
import time

import asyncio

LOST = object()  # the answer of a wait whose link went down
EXPIRED = object()  # the answer of a wait that timed out


# MicroPython (its asyncio has sleep_ms): the client waits for its own socket (aionet.py); CPython: it
# uses asyncio's streams.
OWN_SOCKET = hasattr(asyncio, "sleep_ms")


def sleep_ms(ms):
    # MicroPython's sleep_ms is one generator reused by every call: awaiting it allocates nothing.
    return asyncio.sleep_ms(ms) if OWN_SOCKET else asyncio.sleep(ms / 1000)


def flag():
    """What a wait for an ack or answer is woken by: an asyncio.Event, or on MicroPython aionet's Flag."""
    if OWN_SOCKET:
        from .aionet import Flag
        return Flag()
    return asyncio.Event()


async def within(aw, ms):
    """aw, or OSError(ETIMEDOUT) after ms."""
    if OWN_SOCKET:
        from .aionet import timed  # MicroPython: without wait_for's module (aionet.py says why)
        return await timed(aw, ms)
    try:
        return await asyncio.wait_for(aw, ms / 1000)
    except asyncio.TimeoutError:
        raise OSError(errno.ETIMEDOUT)


class Waits:
    """The waits of aio.Emitter, which inherits them."""

    def _free_pid(self):
        asks = self._asks.waits if self._asks else ()
        while True:
            p = self._next_pid()
            if p not in self._acks and p not in asks:
                return p

    def _expect(self, pid, kind, event, redo=None, ms=None):
        """Register the wait for the ack (or answer) of pid; its clock starts now (_expire)."""
        a = self._acks[pid] = [event, None, None, kind, redo,
                               time.ticks_add(time.ticks_ms(), ms or int(self.timeout * 1000))]
        return a

    async def _until(self, a):
        await a[0].wait()
        if a[1] is EXPIRED:
            raise OSError(errno.ETIMEDOUT)
        return a

    def _expire(self):
        """End the waits past their deadline (EXPIRED); return the ms until the next deadline."""
        now = time.ticks_ms()
        nap = 60000
        for pid in list(self._acks):
            a = self._acks[pid]
            left = time.ticks_diff(a[5], now)
            if left <= 0 and (self._rx_at is not None or self._tx_at is not None):
                a[5] = time.ticks_add(now, 200)  # a packet is on its way: the answer may be behind it
                left = 200
            if left <= 0:
                del self._acks[pid]
                a[1] = EXPIRED
                if a[0]:
                    a[0].set()
                elif a[4]:
                    self._again([a[4]])  # sent from the queue and not acknowledged in time: it goes again
                self._suspect()
            elif left < nap:
                nap = left
        return nap

    def _suspect(self):
        """An answer did not come in time: ping now, the link may be half-open."""
        if self.connected and self._ping_at is None:
            self._got = time.ticks_add(time.ticks_ms(), -self.keepalive * 1000)
            self._rouse()

    def _fail(self):
        """End every wait with LOST; return the publishes to send again."""
        acks, self._acks = self._acks, {}
        again = []
        for pid in sorted(acks):
            a = acks[pid]
            if a[4]:
                again.append(a[4])
            a[1] = LOST
            if a[0]:
                a[0].set()
        if self._asks:
            for pid in list(self._asks.waits):
                w = self._asks.waits[pid]
                if w[0] is None:
                    w[0] = LOST
                    if w[1]:
                        w[1].set()
        return again
