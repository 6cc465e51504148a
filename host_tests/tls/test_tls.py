"""TLS verified by default (issue 7), against the real broker's TLS listener, on both runtimes (CPython
through the shim's ssl, the MicroPython unix port) and both umqtt versions.

- the session broker: a self-signed certificate for IP:127.0.0.1 and DNS:localhost (its own CA);
- a second broker, same license, serving a certificate for DNS:localhost only, signed by a CA made
  here: reached as 'localhost' it verifies, as '127.0.0.1' the name does not match;
- the reconnect check goes through Toxiproxy in front of the TLS port (a reset on the TLS link).
The device side is tls_client.py.
"""
import json
import os
import shutil
import ssl
import subprocess
import sys
import types
from pathlib import Path

import pytest

import broker as broker_mod
import runtimes
from broker_harness import BS_DIR

pytest_plugins = ["toxiproxy"]  # toxiproxy_server

OPENSSL = "openssl"


def _run(*args, cwd):
    subprocess.run(args, cwd=cwd, check=True, capture_output=True)


def _make_ca(d, name):
    _run(OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", name + ".key", "-out", name + ".pem", "-days", "2", "-subj", "/CN=" + name, cwd=d)
    _run(OPENSSL, "x509", "-in", name + ".pem", "-outform", "DER", "-out", name + ".der", cwd=d)


def _make_server(d, name, ca, cn, san):
    _run(OPENSSL, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn, cwd=d)
    (d / (name + ".ext")).write_text("subjectAltName=%s\n" % san)
    _run(OPENSSL, "x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key",
         "-CAcreateserial", "-out", name + ".pem", "-days", "2", "-extfile", name + ".ext", cwd=d)


@pytest.fixture(scope="module")
def pki(broker, emitter_bin, tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    (d / "broker_ca.der").write_bytes(ssl.PEM_cert_to_DER_cert(broker.cert_path.read_text()))
    _make_ca(d, "test_ca")  # signs the second broker's certificate; the wrong CA for the session broker
    _make_server(d, "localhost_only", "test_ca", "localhost", "DNS:localhost")
    named = broker_mod.Broker(emitter_bin, d / "named_broker", license=broker.license, secret=broker.secret)
    named.prepare()
    shutil.copyfile(d / "localhost_only.pem", named.cert_path)
    shutil.copyfile(d / "localhost_only.key", named.key_path)
    named.launch()
    yield types.SimpleNamespace(dir=d, broker_ca=str(d / "broker_ca.der"), test_ca=str(d / "test_ca.der"),
                                named=named)
    named.stop()


def _unix(umqtt_dir, o):
    env = dict(os.environ, MICROPYPATH=runtimes.micropypath(umqtt_dir, front=[BS_DIR]), TLS_CLIENT=json.dumps(o))
    proc = subprocess.run([runtimes.micropython_cmd(), str(Path(__file__).resolve().parent / "tls_client.py")],
                          env=env, capture_output=True, text=True, timeout=60, cwd=str(runtimes.REPO))
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    assert lines, proc.stdout + proc.stderr
    return lines[-1][7:]


def _cpython(umqtt_dir, o):
    # Bound to the emitter_micro just imported (whose tls uses the shim's ssl: CPython's cannot wrap
    # the shim's MicroPython-like sockets).
    for name in ("tls_client", "bs_util"):
        sys.modules.pop(name, None)
    import tls_client
    import emitter_micro.tls
    import shim.ussl
    assert emitter_micro.tls.ssl is shim.ussl
    return tls_client.run(o)


@pytest.fixture(params=["cpython", "unix_port"])
def tls_run(request, umqtt_env, broker, pki):
    if request.param == "unix_port" and runtimes.micropython_cmd() is None:
        pytest.fail("`micropython` not found beside %s" % sys.executable, pytrace=False)
    run = _unix if request.param == "unix_port" else _cpython

    def go(case, port=None, host="127.0.0.1", ca=None, **more):
        o = {"host": host, "port": port or broker.tls_port, "case": case, "ca": ca or pki.broker_ca,
             "key": broker.test_key, "channel": "test/tls%s/" % os.urandom(4).hex()}
        o.update(more)
        out = run(umqtt_env.dir, o)
        print("%s %s:%s %s -> %s" % (request.param, host, o["port"], case, out))
        return out
    return go


@pytest.mark.parametrize("case", ["ca_path", "ca_bytes"])
def test_verified_connect_publish_and_loop(tls_run, case):
    """Verified against the broker's CA (a DER file, or its bytes): subscribe, a QoS 1 publish and its
    echo, an idle loop() wait that leaves the TLS link working, then loop() with traffic."""
    assert tls_run(case) == "CONNECTED"


def test_wrong_ca_refused(tls_run, pki):
    out = tls_run("ca_path", ca=pki.test_ca)
    assert out.startswith("ERROR") and "CONNECTED" not in out, out
    # CPython's ssl / MicroPython's mbedtls
    assert "certificate verify failed" in out or "not correctly signed by the trusted CA" in out, out


def test_hostname_mismatch_refused(tls_run, pki):
    """A certificate for 'localhost' only, from a CA the client trusts: 'localhost' verifies, '127.0.0.1' not."""
    assert tls_run("ca_path", port=pki.named.tls_port, host="localhost", ca=pki.test_ca) == "CONNECTED"
    out = tls_run("ca_path", port=pki.named.tls_port, host="127.0.0.1", ca=pki.test_ca)
    assert out.startswith("ERROR") and "CONNECTED" not in out, out
    # CPython's ssl / MicroPython's mbedtls
    assert "mismatch, certificate is not valid for '127.0.0.1'" in out or "does not match with the expected CN" in out, out


def test_missing_ca_is_a_clear_value_error(tls_run):
    out = tls_run("no_ca")
    assert out.startswith("ERROR ValueError") and "'ca'" in out and "verify=False" in out and "DER" in out, out


def test_unverified_only_when_asked(tls_run, pki):
    """verify=False connects to any certificate: the named broker as '127.0.0.1' too."""
    assert tls_run("unverified") == "CONNECTED"
    assert tls_run("unverified", port=pki.named.tls_port) == "CONNECTED"


def test_reconnect_after_a_reset_reuses_the_context(tls_run, toxiproxy_server, broker, pki):
    """A reset on the TLS link (Toxiproxy reset_peer in front of the TLS port): the client reconnects with
    the same SSL context, the QoS 1 publish that met the reset arrives; a wrong CA is an error event."""
    p = toxiproxy_server.proxy(broker.tls_port, broker.host)
    try:
        out = tls_run("reconnect", port=p.port, host=p.host, wrong_ca=pki.test_ca, toxiproxy_host=p.server.host,
                      toxiproxy_port=p.server.api_port, proxy_name=p.name)
    finally:
        p.clear()
        p.delete()
    assert out.startswith("RECONNECTED same_context=True connects=2 got=['met the reset', 'after']"), out
    assert "WRONG_CA connected=False error=connect to %s failed" % p.host in out, out
