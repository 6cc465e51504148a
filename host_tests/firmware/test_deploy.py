"""`make deploy` against the MicroPython unix port served on a pty, as if it were a board.

The pty board: the unix port gives the raw REPL (Ctrl-A, raw-paste too) when
its stdin is a tty, so mpremote can drive it like a USB board. Two ptys and a
relay thread: `micropython` runs on the slave of pty A; mpremote opens the
slave of pty B (symlinked to <tmp>/ttyBOARD); the thread copies bytes between
the two masters. The "flash" is a temp folder mounted as the board's "/":
micropython starts with `-i boot.py`, and boot.py (outside the flash) does
vfs.umount("/"); vfs.mount(vfs.VfsPosix(flash), "/"), so mpremote's paths
(/lib/emitter_micro/..., /config.py) land in the folder, never in the host's
/lib, and sys.path is the boards' ['', '.frozen', '/lib'].

A soft reset (Ctrl-D at an empty prompt) makes the unix port exit; the relay
then does what a board does: prints "MPY: soft reboot", starts a fresh
interpreter and, when the link was in the raw REPL, re-enters it (hiding the
banner), so mpremote's auto soft reset on every connect just works.
"""
import os
import select
import subprocess
import sys
import threading
import tty
from pathlib import Path

import pytest

import runtimes

MPREMOTE = str(Path(sys.executable).parent / "mpremote")
DEPLOY = runtimes.REPO / "tools" / "deploy.py"
RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n"
CMD_TIMEOUT = 60
DEPLOY_TIMEOUT = 300

BOOT = """import vfs, os, sys
vfs.umount("/")
vfs.mount(vfs.VfsPosix(%r), "/")
os.chdir("/")
sys.path[:] = ["", ".frozen", "/lib"]
del vfs, os, sys
"""


class PtyBoard:
    """The unix port behind a pty, restarted on every soft reset; `flash` is its "/"."""

    def __init__(self, exe, root):
        self.exe = exe
        self.root = Path(root)
        self.flash = self.root / "flash"
        self.flash.mkdir()
        self.boot = self.root / "boot.py"
        self.boot.write_text(BOOT % str(self.flash))
        self.link = self.root / "ttyBOARD"
        self.restarts = 0
        self.errors = []
        self.proc = None
        self.master_a = None
        self._stop_r, self._stop_w = os.pipe()
        self.master_b, self.slave_b = os.openpty()
        tty.setraw(self.slave_b)  # kept open: the master never sees EIO between mpremote runs
        os.symlink(os.ttyname(self.slave_b), self.link)
        self._spawn()
        self.thread = threading.Thread(target=self._relay, name="pty-board", daemon=True)
        self.thread.start()

    @property
    def port(self):
        return str(self.link)

    def _spawn(self):
        master, slave = os.openpty()
        tty.setraw(slave)
        env = dict(os.environ, MICROPYPATH=".frozen")
        self.proc = subprocess.Popen([self.exe, "-i", str(self.boot)], stdin=slave, stdout=slave,
                                     stderr=slave, cwd=str(self.flash), env=env,
                                     start_new_session=True)
        os.close(slave)  # the child holds the only slave fd: its exit gives EIO on the master
        self.master_a = master

    def _relay(self):
        raw, tail, hide = False, b"", False
        try:
            while True:
                r, _, _ = select.select([self.master_a, self.master_b, self._stop_r], [], [], 1)
                if self._stop_r in r:
                    return
                if self.master_b in r:
                    os.write(self.master_a, os.read(self.master_b, 4096))
                if self.master_a not in r:
                    continue
                try:
                    data = os.read(self.master_a, 4096)
                except OSError:
                    data = b""
                if data:
                    seen = tail + data
                    tail = seen[-64:]
                    i, j = seen.rfind(RAW_BANNER), seen.rfind(b">>> ")
                    if i >= 0 or j >= 0:
                        raw = i > j
                    if hide:  # a restart into the raw REPL: show only from its banner on
                        k = seen.find(RAW_BANNER)
                        if k < 0:
                            continue
                        data, hide = seen[k:], False
                    os.write(self.master_b, data)
                    continue
                # The interpreter exited (soft reset): reboot like a board does.
                self.proc.wait(timeout=10)
                os.close(self.master_a)
                os.write(self.master_b, b"MPY: soft reboot\r\n")
                self.restarts += 1
                self._spawn()
                tail = b""
                if raw:
                    os.write(self.master_a, b"\x01")
                    hide = True
        except Exception as e:  # reported by the fixture at teardown
            self.errors.append(repr(e))

    def close(self):
        os.write(self._stop_w, b"x")
        self.thread.join(timeout=10)
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, 9)
            self.proc.wait(timeout=10)
        for fd in (self.master_a, self.master_b, self.slave_b, self._stop_r, self._stop_w):
            try:
                os.close(fd)
            except OSError:
                pass
        if self.link.is_symlink():
            self.link.unlink()


@pytest.fixture
def pty_board(micropython, tmp_path):
    board = PtyBoard(micropython, tmp_path)
    yield board
    board.close()
    assert not board.thread.is_alive(), "pty relay thread did not stop"
    assert not board.errors, "pty relay failed: %s" % board.errors


def mpremote(port, *args, timeout=CMD_TIMEOUT):
    proc = subprocess.run([MPREMOTE, "connect", port] + list(args), capture_output=True,
                          text=True, timeout=timeout)
    return proc


def run_deploy(*args, make=False):
    if make:
        cmd = ["make", "-C", str(runtimes.REPO), "deploy"] + list(args)
    else:
        cmd = [sys.executable, str(DEPLOY)] + list(args)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=DEPLOY_TIMEOUT,
                          cwd=str(runtimes.REPO))
    return proc, "$ %s\nexit %s\n%s\n%s" % (" ".join(cmd), proc.returncode, proc.stdout, proc.stderr)


def modules():
    return sorted(p.stem for p in (runtimes.REPO / "emitter_micro").glob("*.py"))


def test_pty_board_speaks_raw_repl_and_survives_soft_resets(pty_board):
    for i in range(3):  # every connect soft-resets: the unix port exits, the relay restarts it
        proc = mpremote(pty_board.port, "exec", "import os, sys; print(os.getcwd(), sys.path)")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "/ ['', '.frozen', '/lib']" in proc.stdout
    proc = mpremote(pty_board.port, "fs", "mkdir", ":/lib", "+", "fs", "cp",
                    str(runtimes.REPO / "boards" / "unix" / "config.py"), ":/lib/probe.py",
                    "+", "exec", "import probe; print(probe.__file__)")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "/lib/probe.py" in proc.stdout
    assert (pty_board.flash / "lib" / "probe.py").read_bytes() == \
        (runtimes.REPO / "boards" / "unix" / "config.py").read_bytes()
    assert pty_board.restarts >= 3


def test_make_deploy_to_unix_pty(pty_board):
    flash = pty_board.flash
    (flash / "config.py").write_text("# the user's own settings\nKEY = 'mine'\n")
    stale = flash / "lib" / "emitter_micro" / "client.py"
    stale.parent.mkdir(parents=True)
    stale.write_text("raise ImportError('stale source copy shadows client.mpy')\n")

    proc, report = run_deploy("PORT=" + pty_board.port, "BOARD=unix", make=True)
    assert proc.returncode == 0, report
    out = proc.stdout

    lib = flash / "lib" / "emitter_micro"
    assert sorted(p.name for p in lib.iterdir()) == sorted(m + ".mpy" for m in modules()), report
    for f in lib.iterdir():
        assert f.read_bytes()[:2] == b"M\x06", f
    assert "removed stale files from /lib/emitter_micro: client.py" in out, report
    for name in ("main.py", "telemetry.py", "wifi.py", "board.py"):
        src = runtimes.REPO / "boards" / ("unix" if name == "main.py" else "common") / name
        assert (flash / name).read_bytes() == src.read_bytes(), name
    assert (flash / "config.py").read_text() == "# the user's own settings\nKEY = 'mine'\n"
    assert "kept the board's /config.py" in out, report

    simple = flash / "lib" / "umqtt" / "simple.py"
    if "mip failed" in out:  # no internet here: the host's copy went on
        assert simple.read_bytes() == (runtimes.UMQTT134 / "umqtt" / "simple.py").read_bytes()
        assert "umqtt.simple on the board: 1.3.4" in out, report
    else:  # a machine with internet: mip put it there
        assert list((flash / "lib" / "umqtt").glob("simple.*")), report
    assert "mip install umqtt.simple" in out, report

    proc = mpremote(pty_board.port, "exec", "import emitter_micro; print(emitter_micro.__file__)")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == "/lib/emitter_micro/__init__.mpy", proc.stdout
    proc = mpremote(pty_board.port, "exec",
                    "import emitter_micro, umqtt.simple\n"
                    "e = emitter_micro.Emitter({'secure': False, 'host': '127.0.0.1'})\n"
                    "print(e.port, umqtt.simple.__file__)")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.split() == ["8080", "/lib/umqtt/" + simple.name], proc.stdout


def test_deploy_fresh_board_then_redeploy_keeps_config(pty_board):
    flash = pty_board.flash
    proc, report = run_deploy("--port", pty_board.port, "--board", "unix", "--no-mip")
    assert proc.returncode == 0, report
    assert (flash / "config.py").read_bytes() == \
        (runtimes.REPO / "boards" / "unix" / "config.py").read_bytes()
    assert "copied boards/unix/config.py to /config.py" in proc.stdout, report
    assert "mip install" not in proc.stdout, report
    assert (flash / "lib" / "umqtt" / "simple.py").read_bytes() == \
        (runtimes.UMQTT134 / "umqtt" / "simple.py").read_bytes()
    assert "umqtt.simple on the board: 1.3.4" in proc.stdout, report

    (flash / "config.py").write_text("KEY = 'edited on the board'\n")
    proc, report = run_deploy("--port", pty_board.port, "--board", "unix", "--no-mip")
    assert proc.returncode == 0, report
    assert (flash / "config.py").read_text() == "KEY = 'edited on the board'\n"
    assert "umqtt.simple on the board: already on the board: 1.3.4" in proc.stdout, report
    assert "emitter_micro imports from /lib/emitter_micro/__init__.mpy" in proc.stdout, report


def test_deploy_fails_without_a_board(tmp_path):
    proc, report = run_deploy("--port", str(tmp_path / "no-such-tty"), "--board", "unix",
                              "--build-dir", str(tmp_path / "build"))
    assert proc.returncode == 1, report
    assert "deploy: error:" in proc.stderr and "failed to access" in proc.stderr, report


def test_deploy_refuses_unknown_board(tmp_path):
    proc, report = run_deploy("PORT=" + str(tmp_path / "tty"), "BOARD=pyboard", make=True)
    assert proc.returncode != 0, report
    assert "invalid choice: 'pyboard'" in proc.stderr, report


def test_make_deploy_needs_port_and_board():
    proc = subprocess.run(["make", "-C", str(runtimes.REPO), "deploy", "BOARD=unix"],
                          capture_output=True, text=True, timeout=CMD_TIMEOUT)
    assert proc.returncode != 0
    assert "set PORT=" in proc.stdout + proc.stderr
