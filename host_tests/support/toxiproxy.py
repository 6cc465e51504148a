"""Toxiproxy (github.com/Shopify/toxiproxy v2.5.0) in front of the real broker: link faults for the tests.

The server binary comes from tools/upstream.py's toxiproxy() ($TOXIPROXY_BIN, the
cache in .deps/bin, or `go install`). It is driven through its HTTP API (urllib
here; support/bs_util.py has a plain-socket client for the device side).

Also a pytest plugin: test modules that need it say `pytest_plugins = ["toxiproxy"]`.
- `toxiproxy_server` (session): one server on a free loopback port. A binary that
  cannot be had is a failure with the reason; EMITTER_MICRO_NO_BROKER=1 skips instead.
- `toxi_proxy`: a fresh proxy per test in front of the session's broker
  (listens on a free loopback port); its toxics are cleared and it is deleted after.

Toxics (`proxy.add(type, stream, **attributes)`): latency (latency, jitter ms),
bandwidth (rate KB/s), timeout (timeout ms; 0: data dropped, link held open),
reset_peer (timeout ms), slicer (average_size, size_variation, delay us),
limit_data (bytes), slow_close (delay ms). stream: "upstream" (client -> broker)
or "downstream" (broker -> client).
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO / "tools") not in sys.path:
    sys.path.insert(0, str(REPO / "tools"))

import netns  # noqa: E402
import upstream  # noqa: E402
from broker import terminate  # noqa: E402

START_TIMEOUT_S = 20


class ToxiproxyError(Exception):
    pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_binary():
    """Path of toxiproxy-server (tools/upstream.py); raises ToxiproxyError with the reason."""
    try:
        return upstream.toxiproxy()
    except upstream.Unavailable as e:
        raise ToxiproxyError(str(e))


def _die_with_parent():
    """In the child: SIGTERM when the process that started it dies (PR_SET_PDEATHSIG), so a test run that
    is killed before its teardown leaves no server behind."""
    try:
        import ctypes
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)
    except Exception:
        pass


class Server:
    """One toxiproxy-server process, its API on <host>:<api_port> (netns.HOST: a device on the lwIP
    build steers toxics through it too)."""

    def __init__(self, binary, log_path=None):
        self.binary = str(binary)
        self.host = netns.HOST
        self.log_path = log_path
        self.api_port = None
        self.proc = None
        self._log = None

    def start(self):
        self.api_port = free_port()
        self._log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen([self.binary, "-host", self.host, "-port", str(self.api_port)],
                                     stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
        deadline = time.monotonic() + START_TIMEOUT_S
        try:
            while True:
                try:
                    self.request("GET", "/proxies")
                    return self
                except (OSError, ToxiproxyError):
                    if self.proc.poll() is not None or time.monotonic() > deadline:
                        raise ToxiproxyError("toxiproxy-server did not answer on %s:%d within %ds (exit code %s); "
                                             "log: %s" % (self.host, self.api_port, START_TIMEOUT_S, self.proc.poll(),
                                                          self.log()))
                    time.sleep(0.05)
        except BaseException:
            self.stop()
            raise

    def log(self):
        try:
            return Path(self.log_path).read_text(errors="replace")[-4000:] if self.log_path else ""
        except OSError:
            return ""

    def stop(self):
        """Stop the server by its PID (SIGTERM, then SIGKILL) and wait for it."""
        proc, self.proc = self.proc, None
        terminate(proc)
        if self._log not in (None, subprocess.DEVNULL):
            self._log.close()
        self._log = None

    def request(self, method, path, body=None):
        """One API call; the JSON answer (None for 204). An HTTP error is a ToxiproxyError with the body."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request("http://%s:%d%s" % (self.host, self.api_port, path), data=data,
                                     method=method, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                raw = r.read()
        except urllib.error.HTTPError as e:
            raise ToxiproxyError("%s %s -> %d %s" % (method, path, e.code, e.read().decode(errors="replace")))
        return json.loads(raw) if raw else None

    def proxy(self, upstream_port, upstream_host=None, name=None):
        """A new proxy listening on a free port of netns.HOST in front of upstream."""
        name = name or "p" + uuid.uuid4().hex[:10]
        d = self.request("POST", "/proxies", {"name": name, "listen": "%s:0" % netns.HOST,
                                              "upstream": "%s:%d" % (upstream_host or netns.HOST, upstream_port),
                                              "enabled": True})
        return Proxy(self, name, int(d["listen"].rsplit(":", 1)[1]))


class Proxy:
    """One proxy: clients connect to <host>:<port>; toxics by name."""

    def __init__(self, server, name, port):
        self.server = server
        self.name = name
        self.host = netns.HOST
        self.port = port

    def add(self, type, stream="downstream", name=None, toxicity=1.0, **attributes):
        """Add a toxic (to the live connections too); returns its name."""
        name = name or "%s_%s" % (type, stream)
        self.server.request("POST", "/proxies/%s/toxics" % self.name,
                            {"name": name, "type": type, "stream": stream, "toxicity": toxicity,
                             "attributes": attributes})
        return name

    def update(self, name, toxicity=None, **attributes):
        body = {"attributes": attributes} if attributes else {}
        if toxicity is not None:
            body["toxicity"] = toxicity
        return self.server.request("POST", "/proxies/%s/toxics/%s" % (self.name, name), body)

    def remove(self, name):
        self.server.request("DELETE", "/proxies/%s/toxics/%s" % (self.name, name))

    def toxics(self):
        return self.server.request("GET", "/proxies/%s/toxics" % self.name)

    def clear(self):
        for t in self.toxics():
            self.remove(t["name"])

    def delete(self):
        self.server.request("DELETE", "/proxies/%s" % self.name)


# --- pytest plugin -----------------------------------------------------------------
@pytest.fixture(scope="session")
def toxiproxy_server(tmp_path_factory):
    """One toxiproxy-server for the session; missing binary: a failure with the reason."""
    if os.environ.get("EMITTER_MICRO_NO_BROKER"):
        pytest.skip("EMITTER_MICRO_NO_BROKER is set: real-broker tests (and their fault proxy) opted out")
    try:
        binary = find_binary()
        server = Server(binary, tmp_path_factory.mktemp("toxiproxy") / "toxiproxy.log").start()
    except ToxiproxyError as e:
        pytest.fail("Toxiproxy unavailable: %s" % e, pytrace=False)
    yield server
    server.stop()


@pytest.fixture
def toxi_proxy(toxiproxy_server, broker):
    """A fresh proxy in front of the session's real broker; toxics cleared and the proxy deleted after."""
    p = toxiproxy_server.proxy(broker.port, broker.host)
    yield p
    try:
        p.clear()
    finally:
        p.delete()
