"""Error numbers by name: device code takes them from `errno` (the port's own), never Linux's.

ESP32's MicroPython has newlib's numbers (ETIMEDOUT 116, ENOTCONN 128, ...), so a hard-coded 110
would miss every timed-out read there. The shim has that numbering with SHIM_ERRNO=esp32
(host_tests/support/shim/errnos.py). In the default run this module checks that no bare errno number is
left in emitter_micro/, and, once per umqtt version, runs a subprocess pytest with SHIM_ERRNO=esp32
over the rogue scenarios, the in-process (cpython) link-fault tests of test_link_faults.py and
this module again, whose test_mode_* checks (defined only in that mode) prove the numbering is
real: device code sees ESP32's errno and the shim's sockets raise ESP32's numbers.
"""
import os
import re
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import runtimes
import shim.errnos as errnos

# An errno written as a number: raised, or compared with what was caught. OSError(-1) stays:
# umqtt.simple's own "the peer closed the link", not an errno.
_BARE = (
    re.compile(r"OSError\(\s*(?!-1\b)-?\d"),
    re.compile(r"(args\[0\]|errno)\s+(not\s+)?in\s+\(\s*-?\d"),
    re.compile(r"(args\[0\]|errno)\s*[!=]=\s*-?\d"),
    re.compile(r"\b_?(%s)\s*=\s*(const\()?\s*-?\d" % "|".join(name for name, _n in errnos.NEWLIB)),
)


def test_no_bare_errno_numbers_in_device_code():
    found = []
    for path in sorted((runtimes.REPO / "emitter_micro").glob("*.py")):
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if any(p.search(line) for p in _BARE):
                found.append("%s:%d: %s" % (path.name, i, line.strip()))
    assert not found, "errno numbers hard-coded (use errno.E...):\n" + "\n".join(found)
    # The patterns do catch what they are for.
    for line in ("raise OSError(110)  # ETIMEDOUT", "if e.args[0] in (110, 11):", "_ETIMEDOUT = const(110)",
                 "if e.args[0] == 107:", "raise OSError( 9)"):
        assert any(p.search(line) for p in _BARE), line
    for line in ("raise OSError(-1)", "raise OSError(errno.ETIMEDOUT)", "if qos not in (0, 1):"):
        assert not any(p.search(line) for p in _BARE), line


def test_mpy_looks_errno_up_on_the_device(mpy_build):
    """MicroPython folds `errno.X` into a number where the compiler has an errno module (on the device,
    with the port's numbers: free there). mpy-cross has none: a .mpy must keep the names and look them
    up where it runs, or it would carry the build host's numbers to every port."""
    checked = 0
    for rel, _size in mpy_build.files:
        src = (runtimes.REPO / rel).with_suffix(".py").read_text(encoding="utf-8")
        data = (mpy_build.dir / rel).read_bytes()
        for name in set(re.findall(r"\berrno\.(E[A-Z]+)", src)):
            assert name.encode() in data, "%s: errno.%s folded into a number by mpy-cross" % (rel, name)
            checked += 1
    assert checked >= 10, checked  # link, receive, client, requests, resilience, aio*


if not errnos.ESP32:
    PARAMS = [pytest.param(v, id="umqtt" + v) for v in sorted(runtimes.umqtt_versions())]

    @pytest.mark.parametrize("version", PARAMS)
    def test_esp32_numbering(version, tmp_path):
        """The rogue scenarios, the in-process link-fault tests and this module's test_mode_* checks,
        under SHIM_ERRNO=esp32 with one umqtt version: every one must run and pass."""
        folder = runtimes.umqtt_versions()[version]
        problem = runtimes.check_umqtt_dir(folder)
        if problem:
            pytest.fail(problem, pytrace=False)
        report = tmp_path / "esp32.xml"
        env = dict(os.environ, SHIM_ERRNO="esp32", EMITTER_MICRO_UMQTT=str(folder))
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", "--rootdir", str(runtimes.REPO),
             "--junitxml", str(report), str(runtimes.SCENARIOS), str(Path(__file__).resolve().parent / "test_link_faults.py"),
             __file__, "-k", "not test_link_faults or (cpython and umqtt%s)" % version],
            cwd=str(runtimes.REPO), env=env, capture_output=True, text=True, timeout=1800)
        out = "pytest exit %s\n%s\n%s" % (proc.returncode, proc.stdout[-20000:], proc.stderr[-5000:])
        assert proc.returncode == 0, out
        ran = {}
        for case in ET.parse(str(report)).iter("testcase"):
            outcome = "passed"
            for tag in ("failure", "error", "skipped"):
                if case.find(tag) is not None:
                    outcome = tag
            ran[case.get("name")] = outcome
        want = [name for _module, name in runtimes.discover()]
        want += ["test_mode_device_code_sees_esp32_numbers", "test_mode_shim_socket_raises_esp32_numbers",
                 "test_mode_link_read_timeout_is_idle"]
        want += ["%s[cpython-umqtt%s]" % (t, version) for t in
                 ("test_loop_waits_up_to_timeout_and_returns_on_traffic", "test_garbage_from_peer")]
        missing = [n for n in want if ran.get(n) != "passed"]
        assert not missing, "not run or not passed under SHIM_ERRNO=esp32: %s\n%s" % (missing, out)
        print("SHIM_ERRNO=esp32, umqtt %s: %d passed" % (version, sum(v == "passed" for v in ran.values())))

else:
    # Run by test_esp32_numbering's subprocess (SHIM_ERRNO=esp32), in-process on CPython.
    import errno as _cpython_errno

    def test_mode_device_code_sees_esp32_numbers():
        import emitter_micro.link
        import emitter_micro.receive
        import link_faults_client
        import rogue_peer
        from umqtt import simple

        for mod in (emitter_micro.link, emitter_micro.receive, rogue_peer):
            assert mod.errno is errnos.device, mod
        assert errnos.device.ETIMEDOUT == 116 and errnos.device.ENOTCONN == 128 and errnos.device.EAGAIN == 11
        assert errnos.device.ECONNABORTED == 113 and errnos.device.EHOSTUNREACH == 118
        assert errnos.device.EINPROGRESS == 119 and errnos.device.EBADF == 9
        assert not hasattr(errnos.device, "EWOULDBLOCK")  # MicroPython's errno has no such name
        for mod in (simple, link_faults_client, sys.modules["test_receive"]):
            assert errnos.is_device(vars(mod)), mod  # their `import errno` gets it too
        assert not errnos.is_device(globals()) and not errnos.is_device(vars(socket))
        assert sys.modules["uerrno"] is errnos.device
        # CPython, pytest and this module keep the real one.
        assert sys.modules["errno"] is _cpython_errno and _cpython_errno.ETIMEDOUT == 110

    def test_mode_shim_socket_raises_esp32_numbers():
        import usocket

        srv = socket.create_server(("127.0.0.1", 0))
        port = srv.getsockname()[1]
        s = usocket.socket()
        try:
            e = pytest.raises(OSError, s.read, 1).value  # not connected: ENOTCONN, Linux 107
            assert e.args[0] == 128, e
            s.connect(("127.0.0.1", port))
            s.settimeout(0.05)
            e = pytest.raises(OSError, s.read, 1).value  # a read timeout
            assert e.args[0] == 116, e
            s.setblocking(False)
            assert s.read(1) is None  # would block: None, as MicroPython's
            e = pytest.raises(OSError, s.recv, 1).value
            assert e.args[0] == 11, e  # EAGAIN is 11 there too
        finally:
            s.close()
            srv.close()
        e = pytest.raises(OSError, s.read, 1).value
        assert e.args[0] == 9, e  # EBADF
        e = pytest.raises(OSError, usocket.socket().connect, ("127.0.0.1", port)).value
        assert e.args[0] == 111, e  # ECONNREFUSED: 111 on both

    def test_mode_link_read_timeout_is_idle():
        """The bug a hard-coded 110 made: on ESP32 a timed-out poll read of the link is not taken as idle."""
        import usocket
        from emitter_micro.link import Link

        srv = socket.create_server(("127.0.0.1", 0))
        link = Link(usocket, 0.05)
        try:
            link.socket(usocket.AF_INET, usocket.SOCK_STREAM)
            link.connect(("127.0.0.1", srv.getsockname()[1]))
            link.wait(0)
            link.raw.settimeout(0.05)  # a read timeout (116) rather than EAGAIN
            assert link.read(1) is None and link.idle
        finally:
            link.close()
            srv.close()
