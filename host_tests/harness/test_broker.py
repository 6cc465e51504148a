"""The real Emitter broker fixture: it starts, listens (plain and TLS) and makes keys through emitter/keygen/."""
import socket


def test_broker_accepts_tcp(broker):
    with socket.create_connection((broker.host, broker.port), timeout=5):
        pass
    with socket.create_connection((broker.host, broker.tls_port), timeout=5):
        pass


def test_broker_keygen(broker):
    assert broker.secret and broker.license
    assert broker.test_key
    key = broker.keygen("test/keygen/", "rw")
    assert isinstance(key, str) and len(key) > 10
