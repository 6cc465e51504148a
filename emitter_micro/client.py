"""The Emitter client: connect, publish, loop, dispatch events."""
import errno  # error numbers differ by port (ESP32: ETIMEDOUT 116, not 110): never hard-coded
import os
import struct
import time
from binascii import hexlify

from umqtt import simple as _umqtt

from . import topic as T
from .calls import Calls
from .link import Link
from .message import EmitterMessage, payload

_EVENTS = ("connect", "disconnect", "message", "error", "presence", "keygen", "me", "keyban", "link", "history")
_OPTIONS = ("host", "port", "keepalive", "secure", "username", "client_id", "timeout", "will", "ca", "verify",
            "reconnect", "backoff_ms", "queue_size", "queue_bytes")


def header(buf, first, n):
    """Write an MQTT fixed header (first byte, remaining length n) into buf; return its length."""
    buf[0] = first
    i = 1
    while n > 0x7F:
        buf[i] = n & 0x7F | 0x80
        n >>= 7
        i += 1
    buf[i] = n
    return i + 1


class Emitter(Calls):
    """A connection to an Emitter broker.

    Fields that only some devices use are class defaults until first set: subscriptions.py
    owns _subs, _route and _rx (a subscribing device's receive.Receiver); requests.py owns
    _want, _answer and _last_error; resilience.py owns _backlog, _retry and _delay. Everything
    else is this module's and set in __init__, so the instance dict is sized once.
    """

    _backlog = _route = _subs = _held = _tls = _retry = _want = _answer = _last_error = _rx_topic = _rx_chan = _rx = None
    _delay = 0

    def __init__(self, options=None):
        o = self._options = options or {}
        for name in o:
            if name not in _OPTIONS:
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
        will = o.get("will")
        self._will = will and (T.build(will["key"], T.channel(will["channel"])), payload(will["message"]),
                               will.get("retain", False))
        self.connected = self._closed = False
        self.dropped = self._count = self._sends = 0
        self._host_i = -1
        self._mqtt = self._link = self._until = self._ping_at = None
        self._pub = (None,) * 5  # the last publish's key, channel, ttl, me -> its topic with the length in front
        self._handlers = {}
        self._sent = time.ticks_ms()
        self._buf = bytearray(256)

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
            # Bytes: umqtt.simple sends len(str) as the length, wrong for non-ASCII text.
            user = self._options.get("username")
            c = self._mqtt = _umqtt.MQTTClient(self.client_id.encode(), host, port, user and user.encode(), b"",
                                               self.keepalive)
            c.set_callback(self._dispatch)
            if self._will:
                c.set_last_will(*self._will)
        c.server, c.port, c.sock = host, port, None
        net = _umqtt.socket
        # umqtt.simple makes its socket through its module's 'socket': the link stands in for both.
        _umqtt.socket = self._link = Link(net, self.timeout, self._tls, host)
        try:
            c.connect()
        finally:
            _umqtt.socket = net
        self._sent = time.ticks_ms()
        self._ping_at = None
        if self._subs:
            from .subscriptions import resubscribe
            resubscribe(self)
        # Connected once the subscriptions are back: a failure before is a failed attempt, not a disconnect.
        self.connected = True
        if self._delay:
            self._delay = 0  # backoff starts again from the bottom
        self._emit("connect")
        if self._backlog:
            self._backlog.drain(self)

    def _down(self, err):
        """The link failed: close it, tell, and retry later (or raise, with reconnect off)."""
        from .resilience import down
        down(self, err)

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

    def publish(self, key, channel, message, ttl=None, qos=0, retain=False, me=True):
        """Publish message to channel; qos=1 waits for the broker's ack."""
        # Cached: a telemetry loop publishes to one topic, and building it allocates.
        p = self._pub
        if key is p[0] and channel is p[1] and ttl == p[2] and me == p[3]:
            wire = p[4]
        else:
            t = T.build(key, T.channel(channel), T.options(ttl=ttl, me=me))
            wire = struct.pack("!H", len(t)) + t
            self._pub = (key, channel, ttl, me, wire)
        if type(message) is not bytes:
            message = payload(message)
        n = len(wire) + len(message)
        if qos == 0 and self.connected and not self._backlog and n <= T.MAX_PACKET:
            # QoS 0 on a healthy link, the telemetry hot path: the PUBLISH is laid out in a
            # reused buffer from the cached topic bytes and written at once: one TCP segment,
            # no allocation (umqtt.simple allocates twice and writes four times per publish).
            b = self._buf
            i = header(b, 0x31 if retain else 0x30, n)
            j = i + len(wire)
            k = j + len(message)
            try:
                w = self._link.write
                if k <= len(b):
                    b[i:j] = wire
                    b[j:k] = message
                    w(b, k)
                else:
                    w(b, i)
                    w(wire)
                    w(message)
                self._sends += 1
                return
            except Exception as e:
                self._down(e)
        self._send(wire[2:], message, qos, retain)

    def _send(self, t, msg, qos=0, retain=False):
        if qos not in (0, 1):
            raise ValueError("qos must be 0 or 1")
        if 2 + 2 * qos + len(t) + len(msg) > T.MAX_PACKET:
            raise ValueError("message too large: %d bytes; a packet takes %d with the topic" % (len(msg), T.MAX_PACKET))
        # A QoS 1 publish from a handler while an ack is awaited would read that ack: it waits in the queue.
        if self.connected and not self._backlog and (not qos or self._until is None):
            try:
                return self._publish(t, msg, qos, retain)
            except Exception as e:
                self._down(e)
        from .resilience import enqueue
        enqueue(self, t, msg, qos, retain)

    def _publish(self, t, msg, qos, retain):
        if qos:
            self._next_pid()  # wraps umqtt.simple's counter before it takes the next id
            self._until = time.ticks_add(time.ticks_ms(), int(self.timeout * 1000))
        try:
            (qos and self._rx or self._mqtt).publish(t, msg, retain, qos)  # a Receiver reads the PUBACK
        finally:
            self._until = None
        self._sent = time.ticks_ms()
        if qos:
            self._ping_at = None

    def pending(self):
        """How many publishes wait in the queue for the link."""
        return len(self._backlog.q) if self._backlog else 0

    def _not_nested(self):
        """A call that waits for its own answer cannot run in a handler while another answer is awaited."""
        if self._until is not None:
            raise RuntimeError("called from a handler while an ack is awaited: defer it to after loop()")

    def _next_pid(self):
        """The packet id umqtt.simple uses next: it never wraps its counter, but MQTT ids end at 65535."""
        c = self._mqtt
        if c.pid >= 65535:
            c.pid = 0
        return c.pid + 1

    def loop(self, timeout_ms=0):
        """Wait up to timeout_ms for traffic, handle all that is pending, keep the link alive; return messages dispatched."""
        self._count = 0
        if self._held:
            self._deliver_held()
        if not self.connected:
            if self._mqtt is None:
                self.connect()  # never connected: the first loop() does it
            elif not self._closed:
                if not self.reconnect:
                    raise OSError(errno.ENOTCONN)
                from .resilience import retry
                retry(self, timeout_ms)
            return self._count
        c, link = self._mqtt, self._link
        try:
            if self._rx:
                self._rx.pump(timeout_ms)  # a subscribing device reads through its buffer
            else:
                link.wait(timeout_ms)
                while True:
                    op = c.wait_msg()
                    if link.idle:
                        break
                    self._ping_at = None
                    if op is not None and op & 0xF0 != 0x30:
                        link.read(c._recv_len())  # a late ack: nothing waits for it any more
                    link.wait(0)
            if self._backlog:
                self._backlog.drain(self)
            now = time.ticks_ms()
            if self._sends:
                self._sends = 0  # publishes went out since the last loop
                self._sent = now
            if self._ping_at is not None and time.ticks_diff(now, self._ping_at) > self.timeout * 1000:
                raise OSError(errno.ETIMEDOUT)  # no answer to the ping: a half-open link
            if time.ticks_diff(now, self._sent) >= self.keepalive * 1000:
                c.ping()
                self._sent = now
                if self._ping_at is None:
                    self._ping_at = now
        except Exception as e:
            self._down(e)
        return self._count

    def _dispatch(self, topic, msg, *_):
        """umqtt.simple's callback for every PUBLISH, also those that arrive while an ack is awaited."""
        if topic.startswith(b"emitter/"):
            from .requests import on_answer
            on_answer(self, topic[8:-1].decode(), msg)
        else:
            self._count += 1
            if topic != self._rx_topic:  # a device hears few channels: decode each once
                self._rx_topic, self._rx_chan = topic, topic.decode()
            m = EmitterMessage(self._rx_chan, msg)
            h = self._route and self._route(self, m.channel)
            if h:
                self._call("message", h, m)
            else:
                self._emit("message", m)
        if self._until is not None and time.ticks_diff(time.ticks_ms(), self._until) > 0:
            raise OSError(errno.ETIMEDOUT)  # messages keep coming but the ack does not

    def _deliver_held(self):
        """Deliver held events once one has a handler; until then leave them: an idle loop() allocates nothing."""
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
        else:
            # Held for the next loop(), by when a handler may be registered.
            held = self._held
            if held is None:
                held = self._held = []
            if len(held) >= 16:
                held.pop(0)
                self.dropped += 1
            held.append((name, arg))

    def _call(self, name, h, arg):
        try:
            h() if arg is None else h(arg)
        except Exception as e:
            if name != "error":
                self._emit("error", {"status": 0, "message": "%s handler raised %r" % (name, e)})
