"""Requests to the broker on emitter/OP/, answers matched by packet id; imported on first use."""
import errno  # error numbers differ by port (ESP32: ETIMEDOUT 116, not 110): never hard-coded
import json
import time
from binascii import a2b_base64

from . import topic as T
from . import EmitterError
from .message import payload


def _ask(em, op, body, timeout_ms):
    """Publish a request at QoS 1 (the broker then echoes its packet id as 'req').

    timeout_ms=None: return at once, the answer comes as the event op.
    Otherwise wait for the answer, dispatching what arrives meanwhile, and return it.
    """
    msg = json.dumps(body).encode() if body is not None else b""
    t = b"emitter/" + op + b"/"
    if timeout_ms is None:
        em._send(t, msg, 1)
        return None
    em._not_nested()
    end = time.ticks_add(time.ticks_ms(), timeout_ms)
    em._answer = None
    try:
        while True:
            left = time.ticks_diff(end, time.ticks_ms())
            if em.connected and em._want is None:
                em._want = em._next_pid()
                try:
                    em._publish(t, msg, 1, False)
                except Exception as e:
                    em._want = None
                    em._down(e)
            if em._answer is not None:
                break
            if left <= 0:
                raise OSError(errno.ETIMEDOUT)  # no answer in time
            em.loop(min(left, 50))
    finally:
        em._want = None
    d = em._answer
    em._answer = None
    if _failed(d):
        raise EmitterError(d)
    return d


def _failed(answer):
    status = answer.get("status")
    return isinstance(status, int) and status >= 400 or status == 0


def keygen(em, key, channel, permissions="rw", ttl=0, timeout_ms=None):
    for c in permissions:
        if c not in "rwslpex":
            raise ValueError("permissions: %r is not one of r w s l p e x" % c)
    return _ask(em, b"keygen", {"key": T.key(key), "channel": T.channel(channel, T.KEYGEN),
                                "type": permissions, "ttl": ttl}, timeout_ms)


def presence(em, key, channel, status=True, changes=True, timeout_ms=None):
    return _ask(em, b"presence", {"key": T.key(key), "channel": T.channel(channel, T.SUBSCRIBE),
                                  "status": bool(status), "changes": bool(changes)}, timeout_ms)


def me(em, timeout_ms=None):
    return _ask(em, b"me", None, timeout_ms)


def keyban(em, secret, target, banned=True, timeout_ms=None):
    return _ask(em, b"keyban", {"secret": T.key(secret), "target": T.key(target), "banned": bool(banned)}, timeout_ms)


def link(em, key, channel, name, subscribe=True, timeout_ms=None):
    # The link name is the broker's to judge (it answers 400): it takes 1-2 alphanumerics.
    ch, q, opts = channel.partition("?")
    return _ask(em, b"link", {"name": name, "key": T.key(key), "channel": T.channel(ch) + q + opts,
                              "subscribe": bool(subscribe)}, timeout_ms)


def history(em, key, channel, last=1, since=None, until=None, timeout_ms=None):
    ch = T.channel(channel, T.SUBSCRIBE)
    return _ask(em, b"history", {"key": T.key(key), "channel": key + "/" + ch +
                                 T.options(last=last, since=since, until=until)}, timeout_ms)


def unpack_history(answer):
    """Make history payloads bytes: base64 under "channel" (the pinned broker), or text under "topic" (other builds)."""
    for m in answer.get("messages") or ():
        p = m.get("payload") or ""
        if "topic" in m:
            m.setdefault("channel", m["topic"])
            m["payload"] = p.encode()
        else:
            m["payload"] = a2b_base64(p)


def publish_with_link(em, name, message, qos=0, retain=False):
    if not (0 < len(name) < 3 and all(c.isalpha() or c.isdigit() for c in name)):
        raise ValueError("link name must be 1-2 alphanumerics, not %r" % name)
    # The bare name: the broker looks a link up only for topics of at most 2 bytes (conn.go GetLink).
    em._send(name.encode(), payload(message), qos, retain)


def on_answer(em, op, msg):
    """An answer or notice on emitter/OP/: fire its event ('error' for an error status), hand it to a waiting request."""
    try:
        d = json.loads(msg)
    except ValueError:
        d = None
    if not isinstance(d, dict):
        d = {"status": 0, "message": "unreadable answer on emitter/%s/" % op}
    if op == "history":
        unpack_history(d)
    if em._want is not None and d.get("req") == em._want:
        em._answer = d
    if op == "error" or _failed(d):
        em._last_error = d
        op = "error"
    em._emit(op, d)
