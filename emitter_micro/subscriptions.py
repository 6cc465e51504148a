"""Subscriptions: the table of topics subscribed to, with their channel and handler, and what arrives
delivered to its handler (deliver) as an EmitterMessage. No I/O: each client sends SUBSCRIBE/UNSUBSCRIBE
its own way. Loaded with the first subscription or message: a publish-only device never holds it.

The broker keeps no sessions: a client sends every topic of the table again after each (re)connect.
"""
import json

from micropython import const

from . import topic as T

_ROUTES = const(16)  # channels whose handler is remembered


def of(em):
    """em's Subscriptions, made on first use."""
    if em._subs is None:
        em._subs = Subscriptions()
    return em._subs


def deliver(em, topic, chan, msg):
    """A PUBLISH from the broker (its topic, and the topic as text): an answer on emitter/OP/, else a
    message for the handler of its subscription (or 'message', or the asyncio client's inbox)."""
    if topic.startswith(b"emitter/"):
        from .requests import answer
        answer(em, chan[8:-1], msg)
        return
    s = of(em)  # a message on no subscription of em's (a link's, another broker's) is counted too
    s.heard += 1
    m = EmitterMessage(chan, msg)
    h = s.route(chan)
    if h:
        em._call("message", h, m)
    else:
        em._unrouted(m)


class EmitterMessage:
    """A message received on a channel (the broker's refusals are requests.EmitterError)."""

    def __init__(self, channel, binary):
        self.channel = channel
        self.binary = binary

    def asString(self):
        return self.binary.decode()

    def asBinary(self):
        return self.binary

    def asObject(self):
        return json.loads(self.binary)


class Subscriptions:
    """topic bytes -> (channel pattern, handler or None), and a cache of the handler per channel heard."""

    def __init__(self):
        self.table = {}
        self.routes = {}
        self.heard = 0  # messages delivered: the sync client's loop() returns how many it dispatched

    def topics(self):
        return list(self.table)

    def add(self, t, channel, handler):
        # Recorded before the SUBSCRIBE goes: stored messages the broker replays arrive before the SUBACK.
        self.table[t] = (channel, handler)
        self.routes = {}

    def drop(self, t):
        if self.table.pop(t, None):
            self.routes = {}

    def route(self, channel):
        """The handler for a message on channel, or None; remembered per channel, as matching allocates."""
        known = self.routes
        h = known.get(channel, self)
        if h is self:
            h = self._match(channel)
            if len(known) >= _ROUTES:
                known.clear()
            known[channel] = h
        return h

    def _match(self, channel):
        """The handler of the subscription that matches channel as the broker does ('a/' takes 'a/b/', '+' one level)."""
        levels = channel.split("/")
        for pattern, h in self.table.values():
            if h:
                p = pattern.split("/")[:-1]
                if len(p) < len(levels) and all(a == "+" or a == b for a, b in zip(p, levels)):
                    return h
        return None


def topic(key, channel, last=None, since=None, until=None):
    """(topic bytes, channel) of a subscription, validated."""
    ch = T.channel(channel, T.SUBSCRIBE)
    return T.build(key, ch, T.options(last=last, since=since, until=until)), ch

