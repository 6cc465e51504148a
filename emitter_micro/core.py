"""What both clients (client.Emitter, aio.Emitter) share: options, events, the topic of the last publish.

Each other concern is an object that owns its state, made on first use by its module (which also holds
what the clients call on it): subscriptions.Subscriptions (_subs: the table and the route cache, and
deliver(), which routes what arrives), requests.Answers (_asks: the waits for answers, the last error),
resilience.Backlog (_queue: enqueue()) and resilience.Backoff (_backoff); with the "store" option,
store.Store (_store: the publishes not yet delivered, on the filesystem), made with the client. A queue
entry carries the rid of its record in the store (None: not stored); the clients call _forget(rid) when
one is delivered.

Every field is set in __init__: an instance's attributes are a hash table that grows by copying, and
one added later would copy it in the middle of a publish or a receive, when the heap is at its fullest.
"""
import os
from binascii import hexlify

from micropython import const

from . import mqtt
from . import topic as T

_EVENTS = ("connect", "disconnect", "message", "error", "presence", "keygen", "me", "keyban", "link", "history")
_OPTIONS = ("host", "port", "keepalive", "secure", "username", "client_id", "timeout", "will", "ca", "verify",
            "reconnect", "backoff_ms", "queue_size", "queue_bytes", "store")
_HELD = const(16)  # events kept for a handler not registered yet


class Core:
    """Options, events and routing; a client adds the link."""

    def __init__(self, options=None, more=()):
        o = self._options = options or {}
        for name in o:
            if name not in _OPTIONS and name not in more:
                raise ValueError("unknown option %r" % name)
        self.secure = o.get("secure", True)
        host = o.get("host", "api.emitter.io")
        self.hosts = [host] if isinstance(host, str) else list(host)
        self.port = o.get("port", 443 if self.secure else 8080)
        self.keepalive = o.get("keepalive", 30)
        if not 0 < self.keepalive < 120:
            raise ValueError("keepalive must be 1..119 s: the broker drops a link idle for 120 s")
        self.timeout = o.get("timeout", 10)
        if not self.timeout > 0:
            raise ValueError("timeout must be > 0 s")
        self.client_id = o.get("client_id") or "emitter-micro-" + hexlify(os.urandom(6)).decode()
        self.reconnect = o.get("reconnect", True)
        self._last_will()  # a bad will raises now, not at each connect
        self.connected = self._closed = False
        self.dropped = 0  # publishes dropped from the queue
        self.missed = 0  # events dropped: no handler took them, and more came
        self._pid = 0
        self._host_i = -1
        self._handlers = {}
        self._pub = (None,) * 5  # the last publish's key, channel, ttl, me -> its topic as a packet has it
        self._buf = bytearray(256)
        self._subs = self._asks = self._queue = self._backoff = self._store = self._held = self._tls = None
        if o.get("store"):
            from .store import Store
            s = self._store = Store(o["store"], o.get("queue_bytes", 16384),
                                    lambda text: self._emit("error", {"status": 0, "message": text}))
            s.refill(self)

    def __getattr__(self, name):
        # The calls a device may never make (unsubscribe, the requests, flush, ...) are the methods of a
        # class in a module loaded with the first of them (_later(), which each client has); each joins the
        # client's class when first asked for, so a publish-only device never holds their code.
        if name[:2] != "__" and name != "_later":
            f = getattr(self._later(), name, None)
            if f is not None:
                setattr(type(self), name, f)
                return getattr(self, name)
        raise AttributeError(name)

    def on(self, event, callback):
        """Register callback for event ('connect', 'message', 'error', ...)."""
        if event not in _EVENTS:
            raise ValueError("unknown event %r" % event)
        self._handlers[event] = callback

    def _last_will(self):
        """The will option as CONNECT carries it: (topic, message, retain), or None; made for each connect
        rather than kept, as the client's fields are few (client.py says why)."""
        w = self._options.get("will")
        return w and (T.build(w["key"], T.channel(w["channel"])), mqtt.payload(w["message"]), w.get("retain", False))

    def _next_host(self):
        self._host_i = i = (self._host_i + 1) % len(self.hosts)
        host, _, port = self.hosts[i].partition(":")
        return host, int(port) if port else self.port

    def _topic(self, key, channel, ttl, me):
        """The topic of a publish as a packet carries it; kept for the next: a telemetry loop publishes to one."""
        p = self._pub
        if key is p[0] and channel is p[1] and ttl == p[2] and me == p[3]:
            return p[4]
        t = mqtt.wire(T.build(key, T.channel(channel), T.options(ttl=ttl, me=me)))
        if len(t) + 8 > len(self._buf):
            self._buf = bytearray(len(t) + 8)  # a long topic: the buffer that lays out a publish grows once
        self._pub = (key, channel, ttl, me, t)
        return t

    def _valid(self, t, msg, qos):
        if qos != 0 and qos != 1:
            raise ValueError("qos must be 0 or 1")
        if len(t) + len(msg) + 2 * qos > T.MAX_PACKET:
            raise ValueError("message too large: %d bytes; a packet takes %d with the topic" % (len(msg), T.MAX_PACKET))

    def _next_pid(self):
        """The next packet id: 1..65535, then 1 again."""
        self._pid = p = self._pid % 65535 + 1
        return p

    def _forget(self, rid):
        """The record of rid goes: delivered, dropped, or the caller was told the publish failed."""
        if rid is not None:
            self._store.done(rid)

    def _deliver_held(self):
        """Deliver held events once one has a handler; until then leave them: an idle loop allocates nothing."""
        held, h = self._held, self._handlers
        for name, _ in held:
            if name in h:
                self._held = []
                for name, arg in held:
                    self._emit(name, arg)
                return

    def _emit(self, name, arg=None):
        h = self._handlers.get(name)
        if h:
            self._call(name, h, arg)
            return
        held = self._held  # for the next loop, by when a handler may be registered
        if held is None:
            held = self._held = []
        if len(held) >= _HELD:
            held.pop(0)
            self.missed += 1
        held.append((name, arg))

    def _call(self, name, h, arg):
        try:
            h() if arg is None else h(arg)
        except Exception as e:
            if name != "error":
                self._emit("error", {"status": 0, "message": "%s handler raised %r" % (name, e)})

    def _lost(self, err):
        """A link or an attempt failed: say why, tell, plan the next attempt; with reconnect off, raise."""
        # Said, never silent: why the link went (timeout, reset, garbage, MemoryError) or why an attempt failed.
        what = "link to %s lost" if self.connected else "connect to %s failed"
        self._emit("error", {"status": 0, "message": (what + ": %r") % (self.hosts[self._host_i], err)})
        if self.connected:
            self.connected = False
            self._emit("disconnect")
        if not self.reconnect or self._closed:
            raise err
        b = self._backoff
        if b is None:
            from .resilience import Backoff
            b = self._backoff = Backoff(self._options)
        b.next()

    def _up(self):
        """Connected (subscriptions back): backoff from the bottom again, tell."""
        self.connected = True
        if self._backoff:
            self._backoff.reset()
        self._emit("connect")
