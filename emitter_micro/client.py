"""The Emitter client: connect, publish, subscribe, loop, dispatch events."""
import json
import os
import struct
import time

from micropython import const
from umqtt import simple as _umqtt

from . import topic as T
from .link import Link

_SUBSCRIBE = const(0x82)
_UNSUBSCRIBE = const(0xA2)
_ACK = const(0x0E)  # SUBSCRIBE + _ACK = SUBACK, UNSUBSCRIBE + _ACK = UNSUBACK
_EVENTS_HELD = const(16)
_EVENTS = ("connect", "disconnect", "message", "error", "presence", "keygen", "me", "keyban", "link", "history")
_OPTIONS = ("host", "port", "keepalive", "secure", "username", "client_id", "timeout", "will", "ca", "verify",
            "reconnect", "backoff_ms", "queue_size", "queue_bytes")


class EmitterError(Exception):
    """An error answer from the broker, with .status, .message and .req."""

    def __init__(self, answer):
        self.status = answer.get("status")
        self.message = answer.get("message")
        self.req = answer.get("req")
        super().__init__(self.status, self.message, self.req)


class EmitterMessage:
    """A message received on a channel."""

    def __init__(self, channel, binary):
        self.channel = channel
        self.binary = binary

    def asString(self):
        return self.binary.decode()

    def asBinary(self):
        return self.binary

    def asObject(self):
        return json.loads(self.binary)


def _redact(k):
    return k[:4] + "..."


class Emitter:
    """A connection to an Emitter broker."""

    def __init__(self, options=None):
        o = options or {}
        for name in o:
            if name not in _OPTIONS:
                raise ValueError("unknown option %r" % name)
        self.secure = secure = o.get("secure", True)
        self._options = o
        host = o.get("host", "api.emitter.io")
        self.hosts = [host] if isinstance(host, str) else list(host)
        self.port = o.get("port", 443 if secure else 8080)
        self.keepalive = ka = o.get("keepalive", 30)
        if not 0 < ka < 120:
            raise ValueError("keepalive must be 1..119 s: the broker drops a link idle for 120 s")
        self.timeout = o.get("timeout", 10)
        if not self.timeout > 0:
            raise ValueError("timeout must be > 0 s")
        self.username = o.get("username")
        self.client_id = o.get("client_id") or "emitter-micro-" + "".join("%02x" % b for b in os.urandom(6))
        self.reconnect = o.get("reconnect", True)
        self.connected = False
        self.dropped = 0
        self._handlers = {}
        self._held = []
        self._subs = {}
        self._mqtt = self._link = self._tls = None
        self._closed = False
        self._host_i = -1
        self._pub_key = self._pub_chan = self._pub_topic = self._backlog = None
        self._pub_ttl, self._pub_me = None, True
        self._delay = 0
        self._hdr = bytearray(9)
        self._until = self._ping_at = self._want = self._answer = self._last_error = None
        self._count = 0
        self._sent = time.ticks_ms()
        self._retry = None
        will = o.get("will")
        if will:
            self._will = (T.build(will["key"], T.channel(will["channel"])), self._payload(will["message"]),
                          will.get("retain", False))
        else:
            self._will = None

    def on(self, event, callback):
        """Register callback for event ('connect', 'message', 'error', ...)."""
        if event not in _EVENTS:
            raise ValueError("unknown event %r" % event)
        self._handlers[event] = callback

    def connect(self):
        """Connect; with reconnect on, a failure is retried by loop() instead of raised."""
        self._closed = False
        if self.secure and not self._tls:
            from .tls import context
            self._tls = context(self._options)
        try:
            self._open()
        except Exception as e:
            self._down(e)
        return self

    def _open(self):
        self._host_i = i = (self._host_i + 1) % len(self.hosts)
        host, _, port = self.hosts[i].partition(":")
        port = int(port) if port else self.port
        c = self._mqtt
        if c is None:
            # As bytes: umqtt.simple sends len(str) as the length, wrong for non-ASCII text.
            user = self.username
            c = self._mqtt = _umqtt.MQTTClient(self.client_id.encode(), host, port, user and user.encode(), b"",
                                               self.keepalive)
            c.set_callback(self._dispatch)
            if self._will:
                c.set_last_will(*self._will)
        c.server, c.port, c.sock = host, port, None
        net = _umqtt.socket
        self._link = link = Link(net, self.timeout, self._tls, host)
        _umqtt.socket = link
        try:
            c.connect()
        finally:
            _umqtt.socket = net
        self.connected = True
        self._sent = time.ticks_ms()
        self._ping_at = self._retry = None
        self._delay = 0
        for t in self._subs:
            self._ack(_SUBSCRIBE, t)
        self._emit("connect")
        if self.pending():
            self._backlog.drain(self)

    def _down(self, err):
        """The link failed: close it, tell, and retry later (or raise with reconnect off)."""
        if self._link:
            try:
                self._link.close()
            except OSError:
                pass
        self._link = None
        if self.connected:
            self.connected = False
            self._emit("disconnect")
        if not self.reconnect or self._closed:
            raise err
        from .resilience import next_retry
        next_retry(self)

    def disconnect(self):
        """Close the connection cleanly; no reconnect after it."""
        self._closed = True
        if self.connected:
            try:
                self._mqtt.disconnect()
            except Exception:
                pass
            self.connected = False
            self._link = None
            self._emit("disconnect")

    @staticmethod
    def _payload(message):
        if isinstance(message, str):
            return message.encode()
        if isinstance(message, (bytes, bytearray, memoryview)):
            return message
        if isinstance(message, (dict, list)):
            return json.dumps(message).encode()
        raise TypeError("message must be str, bytes, bytearray, memoryview, dict or list")

    def publish(self, key, channel, message, ttl=None, qos=0, retain=False, me=True):
        """Publish message to channel; qos=1 waits for the broker's ack."""
        # Cached: a telemetry loop publishes to one topic, and building it allocates.
        if key is self._pub_key and channel is self._pub_chan and ttl == self._pub_ttl and me == self._pub_me:
            t = self._pub_topic
        else:
            t = T.build(key, T.channel(channel), T.options(ttl=ttl, me=me))
            self._pub_key, self._pub_chan, self._pub_ttl, self._pub_me, self._pub_topic = key, channel, ttl, me, t
        self._send(t, self._payload(message), qos, retain)

    def _send(self, t, msg, qos=0, retain=False):
        if qos not in (0, 1):
            raise ValueError("qos must be 0 or 1")
        if 2 + 2 * qos + len(t) + len(msg) > T.MAX_PACKET:
            raise ValueError("message too large: %d bytes, the broker takes %d with the topic" % (len(msg), T.MAX_PACKET))
        if self.connected and not self.pending():
            try:
                self._publish(t, msg, qos, retain)
                return
            except Exception as e:
                self._down(e)
        if not self.reconnect or self._closed:
            raise OSError(107)  # ENOTCONN
        if not self._backlog:
            from .resilience import Backlog
            self._backlog = Backlog(self._options)
        self._backlog.add(self, t, msg, qos, retain)
        if self.connected:
            self._backlog.drain(self)

    def _publish(self, t, msg, qos, retain):
        c = self._mqtt
        if qos:
            self._next_pid()
            self._until = time.ticks_add(time.ticks_ms(), int(self.timeout * 1000))
        try:
            c.publish(t, msg, retain, qos)
        finally:
            self._until = None
        self._sent = time.ticks_ms()
        if qos:
            self._ping_at = None

    def pending(self):
        """How many publishes wait in the queue for the link."""
        return len(self._backlog.q) if self._backlog else 0

    def _next_pid(self):
        """Return the packet id umqtt.simple uses next: it never wraps it, MQTT ids stop at 65535."""
        c = self._mqtt
        if c.pid >= 65535:
            c.pid = 0
        return c.pid + 1

    def subscribe(self, key, channel, last=None, since=None, until=None, handler=None):
        """Subscribe to channel; handler, if given, gets its messages instead of 'message'."""
        ch = T.channel(channel, T.SUBSCRIBE)
        self._subscribe(T.build(key, ch, T.options(last=last, since=since, until=until)), ch, handler)

    def _subscribe(self, t, ch, handler):
        # Recorded first: stored messages the broker replays arrive before the SUBACK.
        self._subs[t] = (ch, handler)
        if self.connected:
            try:
                self._ack(_SUBSCRIBE, t)
            except EmitterError:
                del self._subs[t]
                raise
            except Exception as e:
                self._down(e)

    def unsubscribe(self, key, channel):
        """Unsubscribe from channel, whatever options it was subscribed with."""
        base = T.build(key, T.channel(channel, T.SUBSCRIBE))
        topics = [t for t in self._subs if t == base or t.startswith(base + b"?")] or [base]
        for t in topics:
            self._subs.pop(t, None)
            if self.connected:
                try:
                    self._ack(_UNSUBSCRIBE, t)
                except Exception as e:
                    self._down(e)

    def _ack(self, kind, t):
        """Send SUBSCRIBE or UNSUBSCRIBE for topic t and wait for its ack, dispatching what arrives meanwhile."""
        c, link, h = self._mqtt, self._link, self._hdr
        pid = self._next_pid()
        c.pid = pid
        n = len(t) + (5 if kind == _SUBSCRIBE else 4)
        h[0] = kind
        i = 1
        while n > 0x7F:
            h[i] = n & 0x7F | 0x80
            n >>= 7
            i += 1
        h[i] = n
        struct.pack_into("!HH", h, i + 1, pid, len(t))
        link.write(h, i + 5)
        link.write(t)
        if kind == _SUBSCRIBE:
            link.write(b"\0")
        self._sent = time.ticks_ms()
        self._until = time.ticks_add(self._sent, int(self.timeout * 1000))
        try:
            while True:
                op = c.wait_msg()
                if op is None or op & 0xF0 == 0x30:
                    continue
                body = link.read(c._recv_len())
                if op == kind + _ACK and body[0] << 8 | body[1] == pid:
                    break
        finally:
            self._until = None
        self._ping_at = None
        if len(body) > 2 and body[2] == 0x80:
            e = self._last_error
            raise EmitterError(e if e and e.get("req") == pid else {"status": 0, "message": "subscription refused", "req": pid})

    def loop(self, timeout_ms=0):
        """Wait up to timeout_ms for traffic, handle all that is pending, keep the link alive; return messages dispatched."""
        self._count = 0
        if self._held:
            held, self._held = self._held, []
            for name, arg in held:
                self._emit(name, arg)
        if not self.connected:
            if self._closed:
                return self._count
            if not self.reconnect:
                raise OSError(107)  # ENOTCONN
            from .resilience import retry
            retry(self, timeout_ms)
            return self._count
        c, link = self._mqtt, self._link
        try:
            link.wait(timeout_ms)
            while True:
                op = c.wait_msg()
                if link.idle:
                    break
                self._ping_at = None
                if op is not None and op & 0xF0 != 0x30:
                    link.read(c._recv_len())  # a late ack: nothing waits for it any more
                link.wait(0)
            self._keepalive()
        except Exception as e:
            self._down(e)
        return self._count

    def _keepalive(self):
        now = time.ticks_ms()
        if self._ping_at is not None and time.ticks_diff(now, self._ping_at) > self.timeout * 1000:
            raise OSError(110)  # no answer to the ping: a half-open link
        if time.ticks_diff(now, self._sent) >= self.keepalive * 1000:
            self._mqtt.ping()
            self._sent = now
            if self._ping_at is None:
                self._ping_at = now

    def _dispatch(self, topic, msg, *_):
        """umqtt.simple's callback, for every PUBLISH, also while waiting for an ack."""
        if topic.startswith(b"emitter/"):
            self._on_answer(topic[8:-1].decode(), msg)
        else:
            self._count += 1
            ch = topic.decode()
            m = EmitterMessage(ch, msg)
            h = self._route(ch) if self._subs else None
            if h:
                self._call("message", h, m)
            else:
                self._emit("message", m)
        if self._until is not None and time.ticks_diff(time.ticks_ms(), self._until) > 0:
            raise OSError(110)  # messages keep coming but the ack does not

    def _route(self, ch):
        levels = ch.split("/")
        for pattern, h in self._subs.values():
            if h:
                p = pattern.split("/")[:-1]
                if len(p) < len(levels) and all(a == "+" or a == b for a, b in zip(p, levels)):
                    return h
        return None

    def _on_answer(self, op, msg):
        try:
            d = json.loads(msg)
        except ValueError:
            d = None
        if not isinstance(d, dict):
            d = {"status": 0, "message": "unreadable answer on emitter/%s/" % op}
        if op == "history":
            from .requests import unpack_history
            unpack_history(d)
        if self._want is not None and d.get("req") == self._want:
            self._answer = d
        if op == "error" or d.get("status", 200) >= 400:
            self._last_error = d
            op = "error"
        self._emit(op, d)

    def _emit(self, name, arg=None):
        h = self._handlers.get(name)
        if h is None:
            # Delivered by the next loop(), once a handler is registered.
            if len(self._held) >= _EVENTS_HELD:
                self._held.pop(0)
                self.dropped += 1
            self._held.append((name, arg))
        else:
            self._call(name, h, arg)

    def _call(self, name, h, arg):
        try:
            h() if arg is None else h(arg)
        except Exception as e:
            if name != "error":
                self._emit("error", {"status": 0, "message": "%s handler raised %r" % (name, e)})

    def __repr__(self):
        return "<Emitter %s %s>" % (self.hosts[self._host_i], "connected" if self.connected else "disconnected")

    # Requests live in .requests, imported by the first call.
    def _request(self, name, args, kw):
        from . import requests
        return getattr(requests, name)(self, *args, **kw)

    def keygen(self, *a, **k):
        """Ask for a key for a channel ('keygen' event; returns the answer with timeout_ms)."""
        return self._request("keygen", a, k)

    def presence(self, *a, **k):
        """Ask who is on a channel and for changes ('presence' events)."""
        return self._request("presence", a, k)

    def me(self, *a, **k):
        """Ask for this connection's id and links ('me' event)."""
        return self._request("me", a, k)

    def keyban(self, *a, **k):
        """Ban or unban a key with the license secret ('keyban' event)."""
        return self._request("keyban", a, k)

    def link(self, *a, **k):
        """Create a short link name for a key and channel ('link' event)."""
        return self._request("link", a, k)

    def history(self, *a, **k):
        """Fetch stored messages of a channel ('history' event)."""
        return self._request("history", a, k)

    def subscribe_with_group(self, *a, **k):
        """Subscribe as a member of a share group: each message goes to one member."""
        return self._request("subscribe_with_group", a, k)

    def publish_with_link(self, *a, **k):
        """Publish to a link made with link()."""
        return self._request("publish_with_link", a, k)

    def flush(self, timeout_ms):
        """Drive the loop until the queue is empty: True, or False on timeout."""
        from .resilience import flush
        return flush(self, timeout_ms)
