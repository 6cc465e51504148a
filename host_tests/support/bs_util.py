"""Helpers for the real-broker scenarios (CPython through the shim, and the MicroPython unix port).

No pytest here: plain asserts, every wait bounded.
"""
import os
import time

import emitter_micro

WAIT_MS = 5000


class Env:
    """What the driver hands a case: host, port, tls_port, keys{}, secret, run (unique per run), ..."""

    def __init__(self, d):
        for name in d:
            setattr(self, name, d[name])

    def get(self, name, default=None):
        return getattr(self, name, default)


def as_env(env):
    return env if isinstance(env, Env) else Env(env)


def uid(env, what):
    """A channel level unique to this run: stored messages of other runs never show up."""
    return what + env.run


def options(env, **extra):
    """Options for a plain-TCP client on the test broker; reconnect off so errors surface."""
    o = {"host": env.host, "port": env.port, "secure": False, "timeout": 5, "reconnect": False}
    o.update(extra)
    return o


def exists(p):
    try:
        os.stat(p)
        return True
    except OSError:
        return False


def proxied(env, **extra):
    """An Emitter (not connected) that reaches the broker through the test's proxy, so the test can cut
    the link: reconnect on, a short backoff and timeout."""
    o = options(env, port=env.proxy_port, reconnect=True, backoff_ms=(20, 80), timeout=1)
    o.update(extra)
    return emitter_micro.Emitter(o)


def watch(env, ch):
    """A client connected straight to the broker and subscribed to ch; the list its messages go to."""
    got = []
    w = client(env)
    w.subscribe(env.keys["test"], ch, handler=got.append)
    return w, got


def client(env, handlers=None, **extra):
    """An Emitter connected to the broker, with handlers registered before connect()."""
    em = emitter_micro.Emitter(options(env, **extra))
    for name, h in (handlers or {}).items():
        em.on(name, h)
    em.connect()
    assert em.connected, "not connected to %s:%s" % (env.host, env.port)
    return em


def ms_since(t0):
    return time.ticks_diff(time.ticks_ms(), t0)


def wait_for(clients, cond, what, ms=WAIT_MS):
    """Drive every client's loop until cond() is true; fail naming `what` after ms."""
    if not isinstance(clients, (list, tuple)):
        clients = [clients]
    t0 = time.ticks_ms()
    while not cond():
        if ms_since(t0) > ms:
            raise AssertionError("timed out after %d ms waiting for %s" % (ms, what))
        for em in clients:
            em.loop(20)
    return ms_since(t0)


def settle(clients, ms=300):
    """Drive the loops for ms: to show that nothing (more) arrives."""
    if not isinstance(clients, (list, tuple)):
        clients = [clients]
    t0 = time.ticks_ms()
    while ms_since(t0) < ms:
        for em in clients:
            em.loop(20)


def raises(exc, f, *a, **k):
    try:
        f(*a, **k)
    except exc as e:
        return e
    raise AssertionError("%s not raised by %s" % (exc.__name__, getattr(f, "__name__", f)))


def close(*clients):
    for em in clients:
        try:
            em.disconnect()
        except Exception:
            pass


def payloads(msgs):
    return [m.binary for m in msgs]


def toxiproxy(env, method, path, body=None):
    """One call to the Toxiproxy HTTP API (env.toxiproxy_host/_port) over a plain socket: MicroPython too.

    Returns the JSON answer (None when empty); an HTTP error status is an AssertionError with the answer.
    """
    import json
    import socket
    data = json.dumps(body).encode() if body is not None else b""
    req = ("%s %s HTTP/1.0\r\nHost: %s:%d\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
           "Connection: close\r\n\r\n" % (method, path, env.toxiproxy_host, env.toxiproxy_port, len(data))
           ).encode() + data
    s = socket.socket()
    got = b""
    try:
        s.settimeout(5)
        s.connect(socket.getaddrinfo(env.toxiproxy_host, env.toxiproxy_port)[0][-1])
        while req:
            req = req[s.send(req):]
        while True:
            b = s.recv(1024)
            if not b:
                break
            got += b
    finally:
        s.close()
    head, _, answer = got.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
    assert 200 <= status < 300, "toxiproxy: %s %s -> %r" % (method, path, got[:300])
    return json.loads(answer) if answer.strip() else None


def toxic(env, type, stream="downstream", name=None, toxicity=1.0, **attributes):
    """Add a toxic to this test's proxy (env.proxy_name), live connections included; returns its name.

    e.g. toxic(env, "timeout", "upstream", timeout=0); toxic(env, "latency", latency=100, jitter=30).
    """
    name = name or "%s_%s" % (type, stream)
    toxiproxy(env, "POST", "/proxies/%s/toxics" % env.proxy_name,
              {"name": name, "type": type, "stream": stream, "toxicity": toxicity, "attributes": attributes})
    return name


def set_toxicity(env, name, toxicity):
    toxiproxy(env, "POST", "/proxies/%s/toxics/%s" % (env.proxy_name, name), {"toxicity": toxicity})


def untoxic(env, name=None):
    """Remove one toxic, or every toxic of this test's proxy."""
    names = [name] if name else [t["name"] for t in toxiproxy(env, "GET", "/proxies/%s/toxics" % env.proxy_name)]
    for n in names:
        toxiproxy(env, "DELETE", "/proxies/%s/toxics/%s" % (env.proxy_name, n))


def proxy_enabled(env, on):
    """Open or close this test's proxy: closed, it refuses connections and cuts the live ones (the broker
    unreachable); opened again, it listens on the same port."""
    toxiproxy(env, "POST", "/proxies/%s" % env.proxy_name, {"enabled": bool(on)})
