"""Helpers for the real-broker scenarios (CPython through the shim, and the MicroPython unix port).

No pytest here: plain asserts, every wait bounded.
"""
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


def proxy_command(env, cmd):
    """Tell the test's TCP proxy (host_tests/tools/tcpproxy.py) to pause, resume or drop."""
    import socket
    ai = socket.getaddrinfo(env.host, env.proxy_control_port)[0][-1]
    s = socket.socket()
    try:
        s.settimeout(5)
        s.connect(ai)
        s.send((cmd + "\n").encode())
        got = b""
        while not got.endswith(b"\n"):
            b = s.recv(16)
            if not b:
                break
            got += b
    finally:
        s.close()
    assert got.strip() == b"ok", "proxy said %r to %r" % (got, cmd)
