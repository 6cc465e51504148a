"""The sync client's subscribing side: SUBSCRIBE/UNSUBSCRIBE with their acks, and the receive path of a
subscribing device: what the link has, read into mqtt.Parser's buffer in as few socket calls as it takes.

Imported with the first SUBSCRIBE (or UNSUBSCRIBE): a publish-only device reads its few acks through
umqtt.simple and pays no buffer. Once a Receiver exists it reads everything after the CONNACK (loop(),
subscription acks, PUBACKs), as bytes it holds are no longer in the socket.
"""
import errno
import time

from . import mqtt
from .parser import Parser
from .subscriptions import of as subscriptions


class Receiver:
    """Reads for the client into its parser; waits for an ack (want: its first byte, pid) when asked."""

    def __init__(self, em):
        self.em = em
        self.p = Parser()
        self.link = None
        self.want = self.pid = self.code = 0

    def pump(self, ms=0, want=0, pid=0):
        """Dispatch the packets the link has (waiting up to ms for the first); with want, read until the ack
        for pid comes (by em._until) and return its last byte."""
        em, p = self.em, self.p
        link = em._link
        if self.link is not link:  # a new connection: nothing of the last one is kept
            self.link = link
            p.reset()
            self.want = 0
        if want:
            # Awaited here, though a handler's loop() may be the one that reads it.
            self.want, self.pid = want, pid
        deadline = None
        if p.i < p.n:
            ms = 0  # packets wait in the buffer: no waiting for more
        elif ms > 0:
            # A poll may wake with nothing to read (a TLS record not all in, a spurious wake-up): the wait
            # goes on to ms unless something came.
            deadline = time.ticks_add(time.ticks_ms(), ms)
        more = True
        while True:
            if em._link is not link:  # a handler's call dropped the link (or disconnected)
                if want:
                    raise OSError(errno.ENOTCONN)
                return None
            first = p.next()  # before dispatching, the parser moves past it: a nested read starts after it
            if first >= 0:
                j, end = p.j, p.end
                if first & 0xF0 == mqtt.PUBLISH:
                    qos1 = p.message(em, first)
                    if qos1 and em._link:  # QoS 1 (the broker sends QoS 0; another broker may not)
                        b = bytearray(4)  # the broker sends QoS 0 only: a PUBACK is rare
                        em._link.write(b, mqtt.puback(b, qos1))
                    u = em._until
                    if u is not None and time.ticks_diff(time.ticks_ms(), u) > 0:
                        raise OSError(errno.ETIMEDOUT)  # messages keep coming but the ack does not
                elif first == self.want and end - j > 1 and p.buf[j] << 8 | p.buf[j + 1] == self.pid:
                    self.want, self.code = 0, p.buf[end - 1]
                # Else a PINGRESP, or an ack nothing waits for any more.
                if want and not self.want:
                    return self.code
                continue
            if p.i == p.n:
                if want:
                    ms = time.ticks_diff(em._until, time.ticks_ms())
                    if ms <= 0:
                        raise OSError(errno.ETIMEDOUT)  # no ack in time
                elif not more:
                    if deadline is None:
                        return None  # all that was pending is handled
                    ms = time.ticks_diff(deadline, time.ticks_ms())
                    if ms <= 0:
                        return None  # nothing came in the wait
            got = self._read(link, ms)
            more = got == 2
            if got:
                deadline = None  # traffic: handled, then back
            ms = 0

    def _read(self, link, ms):
        """Read what is pending (waiting up to ms for it), and the rest of a packet that has started (waiting
        up to the timeout for it). 0: nothing came; 2: the buffer is full, more may be waiting; else 1."""
        s = link.s
        if s is None:
            raise OSError(errno.EBADF)  # closed
        p = self.p
        need = p.need
        mv = p.space()
        link.wait(ms)  # select.poll (TLS: never a read timeout); with nothing to poll, a read timeout
        try:
            r = s.readinto(mv[:1] if ms > 0 and not link.poller else mv)
        except OSError as e:
            c = e.args[0]  # by name, one by one (link.py says why)
            if c != errno.ETIMEDOUT and c != errno.EAGAIN:
                raise
            r = None
        link.setblocking(True)  # writes block (bounded by the timeout), as a handler's publish needs
        if r == 0:
            raise OSError(-1)  # the peer closed the connection (umqtt.simple's number for it)
        n = p.n
        if r:
            link.ping_at = None  # the link is alive
            n += r
            need -= r
        if need > 0:  # a packet is torn: its rest is on the way, waited for up to the timeout
            if s.readinto(p.mv[n:n + need]) != need:
                raise OSError(-1)
            n += need
        got = n > p.n
        p.n = n
        return 2 if n == len(p.buf) else 1 if got else 0


def subscribe(em, t, ch, handler):
    em._not_nested()
    subs = subscriptions(em)
    subs.add(t, ch, handler)
    if em.connected:
        try:
            refusal = ack(em, mqtt.SUBSCRIBE, t)
        except Exception as e:
            em._down(e)
            return
        if refusal:
            raise refusal


def resubscribe(em):
    """After a (re)connect: the broker keeps no sessions (one refused now is dropped by ack)."""
    for t in em._subs.topics():
        ack(em, mqtt.SUBSCRIBE, t)


def ack(em, kind, t):
    """Send SUBSCRIBE or UNSUBSCRIBE for t and wait for its ack, dispatching what arrives meanwhile; return
    the EmitterError of a refused SUBSCRIBE, else None."""
    pid = em._next_pid()
    b = em._buf
    if len(t) + 8 > len(b):
        b = bytearray(len(t) + 8)
    em._link.write(b, mqtt.subscription(b, kind, pid, t))
    # Awaited from now, by the timeout: _until is also the guard against a nested wait (_not_nested).
    em._sent = time.ticks_ms()
    em._until = time.ticks_add(em._sent, int(em.timeout * 1000))
    rx = em._rx
    if rx is None:  # the first subscription: from now on everything is read through the Receiver
        rx = em._rx = Receiver(em)
    try:
        code = rx.pump(0, kind + 0x0E, pid)  # SUBACK 0x90, UNSUBACK 0xB0
    finally:
        em._until = None
    if kind == mqtt.SUBSCRIBE and code == 0x80:
        # Refused (a banned key; the 'error' event told why): dropped, and the EmitterError returned, for
        # subscribe() to raise. Loaded only now: a device never refused never holds it.
        em._subs.drop(t)
        from .requests import refused
        return refused(em, pid)
    return None
