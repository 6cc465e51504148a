"""Subscriptions: SUBSCRIBE/UNSUBSCRIBE with their acks, resubscribing, per-channel handlers.

Written here rather than through umqtt.simple: 1.3.4 has no unsubscribe() and
encodes the SUBSCRIBE length in one byte (topics over 123 bytes break it), and
both versions assert on an ack that is not theirs.
"""
import struct
import time

from micropython import const

from . import EmitterError
from . import topic as T
from .client import header

_SUBSCRIBE = const(0x82)
_UNSUBSCRIBE = const(0xA2)
_header = bytearray(9)


def subscribe(em, key, channel, last=None, since=None, until=None, handler=None):
    """Subscribe to channel; handler, if given, gets its messages instead of the 'message' event."""
    ch = T.channel(channel, T.SUBSCRIBE)
    _add(em, T.build(key, ch, T.options(last=last, since=since, until=until)), ch, handler)


def subscribe_with_group(em, key, channel, group, handler=None):
    """Subscribe as a member of share group: each message goes to one member. The key is for $share/GROUP/CHANNEL/."""
    ch = T.channel(channel, T.SUBSCRIBE)
    if not group or not all(c.isalpha() or c.isdigit() for c in group):
        raise ValueError("share group must be alphanumeric, not %r" % group)
    _add(em, T.build(key, "$share/" + group + "/" + ch), ch, handler)


def unsubscribe(em, key, channel):
    """Unsubscribe from channel, whatever options it was subscribed with."""
    base = T.build(key, T.channel(channel, T.SUBSCRIBE))
    em._not_nested()
    topics = [t for t in em._subs or () if t == base or t.startswith(base + b"?")] or [base]
    for t in topics:
        if em._subs:
            em._subs.pop(t, None)
    _routing(em)
    for t in topics:
        if em.connected:
            try:
                _ack(em, _UNSUBSCRIBE, t)
            except Exception as e:
                em._down(e)


def _routing(em):
    """Subscriptions changed: route messages again from scratch (the cache lives on em._rx)."""
    em._route = route
    if em._rx:
        em._rx.routes = {}


def receiver(em):
    """The device's receive.Receiver, made with its first subscription: from then on everything is read through it."""
    if not em._rx:
        from .receive import Receiver
        em._rx = Receiver(em)
    return em._rx


def resubscribe(em):
    """After a (re)connect: the broker keeps no sessions."""
    _routing(em)
    for t in list(em._subs):
        try:
            _ack(em, _SUBSCRIBE, t)
        except EmitterError:
            del em._subs[t]  # refused now (a banned key): the 'error' event told why


def _add(em, t, ch, handler):
    em._not_nested()
    if em._subs is None:
        em._subs = {}
    # Recorded first: stored messages the broker replays arrive before the SUBACK.
    em._subs[t] = (ch, handler)
    _routing(em)
    if em.connected:
        try:
            _ack(em, _SUBSCRIBE, t)
        except EmitterError:
            del em._subs[t]
            raise
        except Exception as e:
            em._down(e)


def route(em, channel):
    """The handler for a message on channel, or None; remembered per channel, as matching allocates."""
    known = em._rx.routes
    h = known.get(channel, route)
    if h is route:
        h = _match(em, channel)
        if len(known) >= 16:
            known.clear()
        known[channel] = h
    return h


def _match(em, channel):
    """The handler of the subscription that matches channel as the broker does ('a/' takes 'a/b/', '+' one level)."""
    levels = channel.split("/")
    for pattern, h in em._subs.values():
        if h:
            p = pattern.split("/")[:-1]
            if len(p) < len(levels) and all(a == "+" or a == b for a, b in zip(p, levels)):
                return h
    return None


def _ack(em, kind, t):
    """Send SUBSCRIBE or UNSUBSCRIBE for t and wait for its ack, dispatching what arrives meanwhile."""
    link, h = em._link, _header
    em._mqtt.pid = pid = em._next_pid()
    i = header(h, kind, len(t) + (5 if kind == _SUBSCRIBE else 4))
    struct.pack_into("!HH", h, i, pid, len(t))
    link.write(h, i + 4)
    link.write(t)
    if kind == _SUBSCRIBE:
        link.write(b"\0")  # QoS 0: the broker sends everything at QoS 0
    em._sent = time.ticks_ms()
    em._until = time.ticks_add(em._sent, int(em.timeout * 1000))
    try:
        code = receiver(em).pump(0, kind + 0x0E, pid)  # SUBACK 0x90, UNSUBACK 0xB0
    finally:
        em._until = None
    em._ping_at = None
    if kind == _SUBSCRIBE and code == 0x80:
        e = em._last_error
        raise EmitterError(e if e and e.get("req") == pid else {"status": 0, "message": "subscription refused", "req": pid})
