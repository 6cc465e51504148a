"""Requests to the broker on emitter/OP/ (their bodies, validated) and their answers, matched by packet id;
imported on first use. Each client publishes a request at QoS 1 (the broker then echoes the packet id as
"req") and waits its own way (ask: the sync client's; the asyncio one's in aiocalls.py); Answers holds what
came."""
import errno
import json
import time
from binascii import a2b_base64

from . import topic as T
from .mqtt import payload, wire


class EmitterError(Exception):
    """An error answer from the broker, with .status, .message and .req. Here, not beside EmitterMessage: it
    comes with an answer, so only a device that asks or is refused loads it."""

    def __init__(self, answer):
        self.status = answer.get("status")
        self.message = answer.get("message")
        self.req = answer.get("req")
        super().__init__(self.status, self.message, self.req)


def refused(em, pid):
    """The EmitterError of a refused SUBSCRIBE: the error the broker told on emitter/error/ with its packet
    id, else a plain one."""
    e = em._asks and em._asks.last_error
    return EmitterError(e if e and e.get("req") == pid else {"status": 0, "message": "subscription refused", "req": pid})


def answers(em):
    """em's Answers, made on first use."""
    if em._asks is None:
        em._asks = Answers()
    return em._asks


class Answers:
    """Waits for answers: packet id -> [the answer (None until it comes), something to set() when it does]."""

    def __init__(self):
        self.waits = {}
        self.last_error = None  # the last error answer: a refused SUBSCRIBE is told on emitter/error/

    def want(self, pid, event=None):
        self.waits[pid] = w = [None, event]
        return w

    def take(self, pid):
        w = self.waits.pop(pid, None)
        return w and w[0]

    def got(self, d):
        w = self.waits.get(d.get("req"))
        if w and w[0] is None:
            w[0] = d
            if w[1]:
                w[1].set()


def failed(answer):
    status = answer.get("status")
    return isinstance(status, int) and status >= 400 or status == 0


def result(answer):
    """The answer, or the EmitterError it is."""
    if failed(answer):
        raise EmitterError(answer)
    return answer


def request(op, *args):
    """(topic, body) of request op ("keygen", "presence", "me", "keyban", "link", "history"), validated."""
    body = _BODIES[op](*args)
    return b"emitter/" + op.encode() + b"/", json.dumps(body).encode() if body is not None else b""


def _keygen(key, channel, permissions="rw", ttl=0):
    for c in permissions:
        if c not in "rwslpex":
            raise ValueError("permissions: %r is not one of r w s l p e x" % c)
    return {"key": T.key(key), "channel": T.channel(channel, T.KEYGEN), "type": permissions, "ttl": ttl}


def _presence(key, channel, status=True, changes=True):
    return {"key": T.key(key), "channel": T.channel(channel, T.SUBSCRIBE), "status": bool(status),
            "changes": bool(changes)}


def _keyban(secret, target, banned=True):
    return {"secret": T.key(secret), "target": T.key(target), "banned": bool(banned)}


def _link(key, channel, name, subscribe=True):
    # The link name is the broker's to judge (it answers 400): it takes 1-2 alphanumerics.
    ch, q, opts = channel.partition("?")
    return {"name": name, "key": T.key(key), "channel": T.channel(ch) + q + opts, "subscribe": bool(subscribe)}


def _history(key, channel, last=1, since=None, until=None):
    ch = T.channel(channel, T.SUBSCRIBE)
    return {"key": T.key(key), "channel": key + "/" + ch + T.options(last=last, since=since, until=until)}


_BODIES = {"keygen": _keygen, "presence": _presence, "me": lambda: None, "keyban": _keyban, "link": _link,
           "history": _history}


def link_publish(name, message):
    """(topic, payload) of a publish through link name."""
    if not (0 < len(name) < 3 and all(c.isalpha() or c.isdigit() for c in name)):
        raise ValueError("link name must be 1-2 alphanumerics, not %r" % name)
    # The bare name: the broker looks a link up only for topics of at most 2 bytes (conn.go GetLink).
    return name.encode(), payload(message)


def unpack_history(answer):
    """Make history payloads bytes: base64 under "channel" (the pinned broker), or text under "topic" (other builds)."""
    for m in answer.get("messages") or ():
        p = m.get("payload") or ""
        if "topic" in m:
            m.setdefault("channel", m["topic"])
            m["payload"] = p.encode()
        else:
            m["payload"] = a2b_base64(p)


def answer(em, op, msg):
    """An answer or notice on emitter/OP/: to a waiting request, and as the event op ('error' for an error)."""
    try:
        d = json.loads(msg)
    except ValueError:
        d = None
    if not isinstance(d, dict):
        d = {"status": 0, "message": "unreadable answer on emitter/%s/" % op}
    if op == "history":
        unpack_history(d)
    a = answers(em)
    a.got(d)
    if op == "error" or failed(d):
        a.last_error = d
        op = "error"
    em._emit(op, d)


def ask(em, op, args, timeout_ms):
    """The sync client's request: published at QoS 1 (the broker then echoes its packet id as 'req').

    timeout_ms=None: return at once, the answer comes as the event op. Otherwise wait for the
    answer, dispatching what arrives meanwhile, and return it (EmitterError for an error answer).
    """
    t, msg = request(op, *args)
    t = wire(t)
    if timeout_ms is None:
        em._send(t, msg, 1)
        return None
    em._not_nested()
    asks = answers(em)
    end = time.ticks_add(time.ticks_ms(), timeout_ms)
    pid = w = None
    try:
        while True:
            if em.connected and w is None:
                # Asked again on each new link: an answer never comes on a link that went.
                pid = em._next_pid()
                w = asks.want(pid)
                link = em._link
                try:
                    em._publish(t, msg, 1, False, pid)
                except Exception as e:
                    em._down(e)
            if w and w[0] is not None:
                return result(w[0])
            if w and em._link is not link:
                asks.take(pid)
                w = None
            left = time.ticks_diff(end, time.ticks_ms())
            if left <= 0:
                raise OSError(errno.ETIMEDOUT)  # no answer in time
            em.loop(min(left, 50))
    finally:
        if pid is not None:
            asks.take(pid)
