"""The CPython shim behaves like the MicroPython unix port where it matters."""
import errno
import socket as cpy_socket
import sys
import threading
import time

import pytest

import runtimes
import shim
from shim import mptime, usocket


def test_micropython_module():
    import micropython
    from micropython import const
    assert const(5) == 5
    assert micropython.native(len) is len and micropython.viper(len) is len
    micropython.mem_info()
    micropython.opt_level()


def test_aliases():
    import ubinascii, uerrno, ujson, uos, uselect, ustruct, utime  # noqa: F401
    assert sys.modules["usocket"] is usocket
    assert sys.modules["socket"] is cpy_socket


def test_ticks_wrap():
    assert time.ticks_diff(time.ticks_add(mptime.TICKS_MAX, 5), mptime.TICKS_MAX) == 5
    assert time.ticks_add(mptime.TICKS_MAX, 1) == 0
    assert time.ticks_diff(0, mptime.TICKS_MAX) == 1
    assert time.ticks_diff(mptime.TICKS_MAX, 0) == -1
    assert time.ticks_diff(5, 3) == 2
    assert 0 <= time.ticks_ms() <= mptime.TICKS_MAX
    t0 = time.ticks_ms()
    time.sleep_ms(20)
    assert 15 <= time.ticks_diff(time.ticks_ms(), t0) < 1000
    t0 = time.ticks_us()
    time.sleep_us(2000)
    assert time.ticks_diff(time.ticks_us(), t0) >= 1500


def test_ticks_start_near_wrap():
    mptime._reset(3)
    try:
        left = mptime.TICKS_PERIOD - time.ticks_ms()
        assert 2500 < left <= 3000
    finally:
        mptime._reset()


@pytest.fixture
def pair():
    srv = cpy_socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    s = usocket.socket()
    s.connect(usocket.getaddrinfo("127.0.0.1", srv.getsockname()[1])[0][-1])
    peer, _ = srv.accept()
    srv.close()
    yield s, peer
    s.close()
    peer.close()


def test_getaddrinfo_shape():
    af, typ, proto, canon, addr = usocket.getaddrinfo("127.0.0.1", 1883)[0]
    assert canon == "" and addr == ("127.0.0.1", 1883) and af == usocket.AF_INET


def test_read_blocking_loops_until_n(pair):
    s, peer = pair

    def feed():
        for b in (b"ab", b"cd", b"ef"):
            time.sleep(0.02)
            peer.sendall(b)
    threading.Thread(target=feed).start()
    assert s.read(6) == b"abcdef"


def test_read_nonblocking(pair):
    s, peer = pair
    s.setblocking(False)
    assert s.read(4) is None
    assert s.readinto(bytearray(4)) is None
    peer.sendall(b"xy")
    time.sleep(0.05)
    assert s.read(4) == b"xy"
    s.setblocking(True)
    peer.sendall(b"line\nrest")
    assert s.readline() == b"line\n"
    buf = bytearray(8)
    assert s.readinto(buf, 4) == 4 and bytes(buf[:4]) == b"rest"


def test_timeout_is_oserror_110(pair):
    s, _peer = pair
    s.settimeout(0.1)
    with pytest.raises(OSError) as ei:
        s.read(1)
    # CPython turns OSError(110, ...) into its TimeoutError subclass by itself;
    # what device code sees is the same as on the unix port: OSError, args[0] 110.
    assert ei.value.args[0] == errno.ETIMEDOUT == 110


def test_write_str_and_length_and_eof(pair):
    s, peer = pair
    assert s.write("hé") == 3
    assert s.write(bytearray(b"12345"), 2) == 2
    assert s.write(memoryview(b"zz")) == 2
    assert peer.recv(100) == "hé".encode() + b"12zz"
    peer.close()
    assert s.read(4) == b""
    assert s.read() == b""


def test_import_fresh_per_version(umqtt_env):
    assert umqtt_env.simple.socket is usocket
    assert str(umqtt_env.dir) in umqtt_env.simple.__file__
    assert umqtt_env.emitter_micro is not None
