"""The sync client: connect (through umqtt.simple), publish, loop; no call waits longer than the timeout."""
import errno
import time

from umqtt import simple as _umqtt

from . import mqtt
from .core import Core
from .link import Link


class Emitter(Core):
    """A connection to an Emitter broker.

    Fields: core.Core's (and the objects it names) and this module's, all set in __init__; _rx is the
    receive.Receiver a subscribing device reads through (made with its first subscription).
    """

    def __init__(self, options=None):
        super().__init__(options)
        self._mqtt = self._link = self._until = self._rx = None
        self._sent = time.ticks_ms()  # None: a publish went out since the last loop() (which times it then)

    def _later(self):
        from .calls import Calls
        return Calls

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
        host, port = self._next_host()
        c = self._mqtt
        if c is None:
            # Bytes: umqtt.simple sends len(str) as the length, wrong for non-ASCII text.
            user = self._options.get("username")
            c = self._mqtt = _umqtt.MQTTClient(self.client_id.encode(), host, port, user and user.encode(), b"",
                                               self.keepalive)
            c.set_callback(self._message)
            w = self._last_will()
            if w:
                c.set_last_will(*w)
        c.server, c.port, c.sock = host, port, None
        # umqtt.simple makes its socket through its module's `socket`, and no parameter that both 1.3.4 and
        # 1.8 take can hand it one: the one place its module is swapped, for connect() alone. The link
        # stands in for both; it bounds every read and wraps TLS (link.py).
        net = _umqtt.socket
        _umqtt.socket = self._link = Link(net, self.timeout, self._tls, host)
        try:
            c.connect()
        finally:
            _umqtt.socket = net
        self._sent = time.ticks_ms()
        if self._subs and self._subs.table:  # (a link's messages alone make an empty one)
            from .receive import resubscribe
            resubscribe(self)
        # Connected once the subscriptions are back: a failure before is a failed attempt, not a disconnect.
        self._up()
        if self._queue:
            from .resilience import drain
            drain(self)

    def _down(self, err):
        """The link failed: close it, tell, and retry later (or raise, with reconnect off)."""
        if self._link:
            try:
                self._link.close()
            except OSError:
                pass
            self._link = None
        self._lost(err)

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

    def subscribe(self, key, channel, last=None, since=None, until=None, handler=None):
        """Subscribe to channel (options: replay the last N, or a time window); handler gets its messages."""
        from .receive import subscribe  # the receive side loads with the first subscription
        from .subscriptions import topic
        subscribe(self, *topic(key, channel, last, since, until), handler)

    def pending(self):
        """How many publishes wait in the queue for the link."""
        return self._queue.count() if self._queue else 0

    def publish(self, key, channel, message, ttl=None, qos=0, retain=False, me=True):
        """Publish message to channel; qos=1 waits for the broker's ack."""
        p = self._pub  # core's cache of the last topic, looked up here: the hot path makes no call it can spare
        t = p[4] if key is p[0] and channel is p[1] and ttl == p[2] and me == p[3] else self._topic(key, channel, ttl, me)
        if type(message) is not bytes:
            message = mqtt.payload(message)
        n = len(message)
        if qos == 0 and self.connected and not self._queue and len(t) + n <= 65536:
            # QoS 0 on a healthy link, the telemetry hot path: laid out in the reused buffer (_topic grew it
            # for the topic) and written at once, in one piece where it fits; no allocation.
            b = self._buf
            i = mqtt.publish(b, t, 0, retain, 0, n)
            k = i + n
            try:
                w = self._link.write
                if k <= len(b):
                    b[i:k] = message
                    w(b, k)
                else:
                    w(b, i)
                    w(message)
                self._sent = None  # timed by the next loop(): no clock read here
                return
            except Exception as e:
                self._down(e)
        self._send(t, message, qos, retain)

    def _write(self, t, msg, qos, retain, pid):
        """One PUBLISH, laid out in the reused buffer with its payload where it fits (one write: one TCP
        segment, no allocation), else with the payload in a write of its own."""
        b = self._buf
        if len(t) + 8 > len(b):
            b = self._buf = bytearray(len(t) + 8)  # a long topic (a request's, a link's): the buffer grows once
        i = mqtt.publish(b, t, qos, retain, pid, len(msg))
        k = i + len(msg)
        w = self._link.write
        if k <= len(b):
            b[i:k] = msg
            w(b, k)
        else:
            w(b, i)
            w(msg)

    def _send(self, t, msg, qos=0, retain=False):
        self._valid(t, msg, qos)
        if not self.connected and (not self.reconnect or self._closed):
            raise OSError(errno.ENOTCONN)
        rid = self._store.keep(self, t, msg, 1, retain) if qos and self._store else None  # stored until its PUBACK
        # A QoS 1 publish from a handler while an ack is awaited would read that ack: it waits in the queue.
        if self.connected and not self._queue and (not qos or self._until is None):
            try:
                self._publish(t, msg, qos, retain)
            except Exception as e:
                try:
                    self._down(e)
                except Exception:
                    self._forget(rid)  # raised to the caller (reconnect off): not kept
                    raise
            else:
                self._forget(rid)  # acknowledged
                return
        from .resilience import drain, enqueue
        enqueue(self, t, msg, qos, retain, rid)
        if self.connected and self._until is None:
            drain(self)

    def _publish(self, t, msg, qos, retain, pid=0):
        if qos:
            pid = pid or self._next_pid()
            self._until = time.ticks_add(time.ticks_ms(), int(self.timeout * 1000))
            try:
                self._write(t, msg, 1, retain, pid)
                self._ack(mqtt.PUBACK, pid)
            finally:
                self._until = None
        else:
            self._write(t, msg, 0, retain, 0)
        self._sent = time.ticks_ms()

    def _ack(self, kind, pid):
        """Wait by _until for the ack of kind for pid, dispatching what arrives meanwhile; its last byte."""
        if self._rx:
            return self._rx.pump(0, kind, pid)
        c, link = self._mqtt, self._link  # a publish-only device reads through umqtt.simple
        while True:
            left = time.ticks_diff(self._until, time.ticks_ms())
            if left <= 0:
                raise OSError(errno.ETIMEDOUT)  # no ack in time, or messages keep coming but it does not
            link.wait(left)
            op = c.wait_msg()
            if link.idle:
                continue
            link.ping_at = None
            if op is not None and op & 0xF0 != mqtt.PUBLISH:
                b = link.read(c._recv_len())
                if op == kind and len(b) > 1 and b[0] << 8 | b[1] == pid:
                    return b[-1]

    def _message(self, topic, msg):
        """umqtt.simple's callback: a PUBLISH read before the Receiver exists (a publish-only device hears
        none it did not ask for)."""
        from .subscriptions import deliver
        deliver(self, topic, topic.decode(), msg)

    def _unrouted(self, m):
        self._emit("message", m)

    def _not_nested(self):
        """A call that waits for its own answer cannot run in a handler while another answer is awaited."""
        if self._until is not None:
            raise RuntimeError("called from a handler while an ack is awaited: defer it to after loop()")

    def loop(self, timeout_ms=0):
        """Wait up to timeout_ms for traffic, handle all that is pending, keep the link alive; return messages dispatched."""
        heard = self._heard()
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
            return self._heard() - heard
        c, link = self._mqtt, self._link
        try:
            if self._rx:
                self._rx.pump(timeout_ms)  # a subscribing device reads through its buffer
            else:
                deadline = time.ticks_add(time.ticks_ms(), timeout_ms) if timeout_ms > 0 else None
                link.wait(timeout_ms)
                while True:
                    op = c.wait_msg()
                    if link.idle:
                        left = 0 if deadline is None else time.ticks_diff(deadline, time.ticks_ms())
                        if left <= 0:
                            break
                        link.wait(left)  # woken with nothing to read: the wait goes on
                        continue
                    deadline = None  # traffic: handled, then back
                    link.ping_at = None
                    if op is not None and op & 0xF0 != mqtt.PUBLISH:
                        link.read(c._recv_len())  # a late ack: nothing waits for it any more
                    link.wait(0)
            if self._queue:
                from .resilience import drain
                drain(self)
            now = time.ticks_ms()
            if self._sent is None:
                self._sent = now  # publishes went out since the last loop
            if link.ping_at is not None and time.ticks_diff(now, link.ping_at) > self.timeout * 1000:
                raise OSError(errno.ETIMEDOUT)  # no answer to the ping: a half-open link
            if time.ticks_diff(now, self._sent) >= self.keepalive * 1000:
                c.ping()
                self._sent = now
                if link.ping_at is None:
                    link.ping_at = now
        except Exception as e:
            self._down(e)
        return self._heard() - heard

    def _heard(self):
        s = self._subs
        return s.heard if s else 0
