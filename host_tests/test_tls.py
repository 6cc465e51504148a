"""TLS that is verified by default (issue 7), against a loopback TLS endpoint made here.

The endpoint is a test peer (fakepeer's scripted MQTT answers behind Python's
ssl), not a broker: it proves the handshake, the verification and that MQTT
flows over it. The same checks against the real broker's TLS listener are in
test_real_broker.py (skipped while the broker cannot be had).
"""
import subprocess

import pytest

import mp
from peers import PeerServer, ssl_context

OPENSSL = "openssl"


def _run(*args, cwd):
    subprocess.run(args, cwd=cwd, check=True, capture_output=True)


def _make_ca(d, name):
    _run(OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", name + ".key", "-out", name + ".pem", "-days", "2", "-subj", "/CN=" + name, cwd=d)
    _run(OPENSSL, "x509", "-in", name + ".pem", "-outform", "DER", "-out", name + ".der", cwd=d)


def _make_server(d, name, ca, san):
    _run(OPENSSL, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name, cwd=d)
    (d / (name + ".ext")).write_text("subjectAltName=%s\n" % san)
    _run(OPENSSL, "x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key",
         "-CAcreateserial", "-out", name + ".pem", "-days", "2", "-extfile", name + ".ext", cwd=d)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    _make_ca(d, "ca")
    _make_ca(d, "other_ca")
    _make_server(d, "good", "ca", "IP:127.0.0.1,DNS:localhost")
    _make_server(d, "mismatch", "ca", "DNS:other.example")
    good = PeerServer(ssl_context(str(d / "good.pem"), str(d / "good.key")))
    mismatch = PeerServer(ssl_context(str(d / "mismatch.pem"), str(d / "mismatch.key")))
    yield d, good, mismatch
    good.close()
    mismatch.close()


def _unix(port, case, ca):
    env = {"MICROPYPATH": mp.micropypath(mp.UMQTT134)}
    import os
    env = dict(os.environ, **env)
    proc = subprocess.run([mp.micropython_cmd(), str(mp.HOST_TESTS / "tls_client.py"), str(port), case, str(ca)],
                          env=env, capture_output=True, text=True, timeout=60, cwd=str(mp.REPO))
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    assert lines, proc.stdout + proc.stderr
    return lines[-1][7:]


@pytest.mark.parametrize("case", ["ca_path", "ca_bytes"])
def test_verified_connect_and_publish(micropython, pki, case):
    d, good, _ = pki
    n = len(good.peers)
    assert _unix(good.port, case, d / "ca.der") == "CONNECTED"
    peer = good.peers[n]
    assert peer.kinds()[:1] == [0x10] and peer.of(0x30)[0].payload() == b"over tls"
    assert peer.of(0x30)[0].topic() == b"KEY-tls/secure/"


def test_wrong_ca_refused(micropython, pki):
    d, good, _ = pki
    out = _unix(good.port, "ca_path", d / "other_ca.der")
    assert out.startswith("ERROR") and "CONNECTED" not in out
    assert "signed" in out or "verif" in out.lower() or "CA" in out, out


def test_hostname_mismatch_refused(micropython, pki):
    d, _, mismatch = pki
    out = _unix(mismatch.port, "ca_path", d / "ca.der")
    assert out.startswith("ERROR") and ("CN" in out or "name" in out.lower()), out


def test_missing_ca_is_a_clear_value_error(micropython, pki):
    d, good, _ = pki
    out = _unix(good.port, "no_ca", d / "ca.der")
    assert out.startswith("ERROR ValueError") and "'ca'" in out and "verify=False" in out and "DER" in out, out


def test_unverified_only_when_asked(micropython, pki):
    d, good, _ = pki
    assert _unix(good.port, "unverified", d / "ca.der") == "CONNECTED"


def test_reconnect_reuses_context_and_reports_failures(micropython, pki):
    d, good, _ = pki
    env = dict(__import__("os").environ, MICROPYPATH=mp.micropypath(mp.UMQTT134))
    code = """
import emitter_micro, time
errs = []
em = emitter_micro.Emitter({"host": "127.0.0.1", "port": %d, "secure": True, "timeout": 3, "ca": %r,
                            "backoff_ms": (50, 100)})
em.on("error", errs.append)
em.connect()
ctx = em._tls
em._link.close()
em.loop(50)
end = time.ticks_add(time.ticks_ms(), 5000)
while not em.connected and time.ticks_diff(end, time.ticks_ms()) > 0:
    em.loop(50)
print("RESULT", em.connected, em._tls is ctx)
bad = emitter_micro.Emitter({"host": "127.0.0.1", "port": %d, "secure": True, "timeout": 3, "ca": %r})
bad.on("error", errs.append)
bad.connect()
print("RESULT2", bad.connected, [e["message"][:40] for e in errs])
""" % (good.port, str(d / "ca.der"), good.port, str(d / "other_ca.der"))
    proc = subprocess.run([mp.micropython_cmd(), "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert "RESULT True True" in proc.stdout, proc.stdout + proc.stderr
    assert "RESULT2 False" in proc.stdout and "connect to 127.0.0.1 failed" in proc.stdout, proc.stdout


@pytest.mark.parametrize("case,ca,expect", [("ca_path", "ca.der", "CONNECTED"), ("ca_bytes", "ca.der", "CONNECTED"),
                                            ("ca_path", "other_ca.der", "ERROR"), ("no_ca", "ca.der", "ERROR ValueError")])
def test_cpython_runtime(pki, umqtt_env, monkeypatch, case, ca, expect):
    """The same checks in-process under CPython: the shim's ssl stands in for MicroPython's (CPython's
    own ssl cannot wrap the shim's MicroPython-like sockets)."""
    import shim.ussl
    import emitter_micro.tls
    import tls_client
    monkeypatch.setattr(emitter_micro.tls, "ssl", shim.ussl)
    d, good, _ = pki
    out = tls_client.run(good.port, case, str(d / ca))
    assert out.startswith(expect), out
