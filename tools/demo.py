"""`make demo`: the unix-port telemetry board against the REAL Emitter broker.

Starts the broker (tools/broker.py; if it cannot be had, prints why and
exits 2 -- it is never faked), makes a key for devices/#/, subscribes (CPython,
paho) and prints every reading, runs `micropython boards/unix/main.py` with
INTERVAL_S=1 and a store for its undelivered readings (STORE, the "store" option),
reaching the broker through a relay of the demo's own, and sends the command
{"interval": 2} once the first reading is in. After the third reading the relay
is cut (the device's link to the broker down), and once the device has queued three
readings it loses power (SIGKILL); the link comes back and the device boots again on
the same store: what it had queued arrives first, then its readings up to COUNT=10
in all. Prints a summary and stops everything. Exit 0 only if every reading made
arrived. `--async` (make demo ASYNC=1): the board runs the asyncio app
(boards/common/telemetry_aio.py) instead of the sync one.
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "host_tests" / "support"))

import broker as broker_mod  # noqa: E402
import runtimes  # noqa: E402

COUNT = 10  # readings in all, over both boots
OUTAGE_AFTER = 3  # readings delivered before the link goes down
QUEUED = 3  # readings queued in the store when the device loses power
INTERVAL_S = 1
COMMAND = {"interval": 2}
TELEMETRY = "devices/unix-1/telemetry/"
COMMANDS = "devices/unix-1/commands/"
BOARD_TIMEOUT_S = 120


def say(text):
    print("demo: " + text, flush=True)


class Relay:
    """The device's route to the broker: a TCP relay that the demo cuts (an outage) and restores."""

    def __init__(self, host, port):
        self.target = (host, port)
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind((host, 0))
        self.srv.listen(8)
        self.port = self.srv.getsockname()[1]
        self.up = True
        self.live = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return  # closed
            try:
                if not self.up:
                    raise OSError("cut")  # refused while the link is down
                s = socket.create_connection(self.target, timeout=5)
            except OSError:
                c.close()
                continue
            s.settimeout(None)
            with self.lock:
                self.live += [c, s]
            for a, b in ((c, s), (s, c)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, a, b):
        try:
            while True:
                data = a.recv(4096)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        for x in (a, b):
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        self.up = False
        with self.lock:
            live, self.live = self.live, []
        for x in live:
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            x.close()

    def restore(self):
        self.up = True

    def close(self):
        self.srv.close()
        self.cut()


class Subscriber:
    """Prints every reading; sends the command once the first reading is in."""

    def __init__(self, b, key):
        import paho.mqtt.client as mqtt

        self.key = key
        self.seqs = []
        self.readings = []  # (seq, uptime_ms): a reboot starts seq from 1 again
        self.command_sent = False
        self.subscribed = threading.Event()
        self.lock = threading.Lock()
        c = self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311,
                                      client_id="demo-subscriber")
        c.on_connect = lambda client, u, f, rc, p=None: client.subscribe("%s/%s" % (key, TELEMETRY))
        c.on_subscribe = lambda client, u, mid, rcs, p=None: self.subscribed.set()
        c.on_message = self.on_message
        c.connect(b.host, b.port, keepalive=30)
        c.loop_start()

    def on_message(self, client, userdata, msg):
        try:
            reading = json.loads(msg.payload)
        except ValueError:
            say("unreadable message on %s: %r" % (msg.topic, msg.payload))
            return
        say("reading on %s: %s" % (msg.topic, json.dumps(reading)))
        with self.lock:
            if isinstance(reading, dict) and "seq" in reading:
                self.seqs.append(reading["seq"])
                self.readings.append((reading["seq"], reading.get("uptime_ms")))
            send = not self.command_sent
            self.command_sent = True
        if send:
            say("sending command %s to %s" % (json.dumps(COMMAND), COMMANDS))
            client.publish("%s/%s" % (self.key, COMMANDS), json.dumps(COMMAND), qos=1)

    def stop(self):
        try:
            self.client.disconnect()
        finally:
            self.client.loop_stop()


def run_board(b, key, umqtt_dir, use_async=False, port=None, store="", count=COUNT):
    """The board app (count readings; 0: until killed) reaching the broker on port, its store at store."""
    exe = runtimes.micropython_cmd()
    if exe is None:
        raise RuntimeError("`micropython` not found beside %s nor on PATH" % sys.executable)
    env = dict(os.environ)
    env.update({
        "MICROPYPATH": ":".join([".frozen", str(REPO / "boards" / "unix"), str(REPO / "boards" / "common"),
                                 str(REPO), str(umqtt_dir)]),
        "EMITTER_HOST": b.host, "EMITTER_PORT": str(port or b.port), "EMITTER_KEY": key,
        "EMITTER_CHANNEL": TELEMETRY, "EMITTER_COMMANDS": COMMANDS, "STORE": store,
        "COUNT": str(count), "INTERVAL_S": str(INTERVAL_S), "ASYNC": "1" if use_async else "0",
    })
    cmd = [exe, str(REPO / "boards" / "unix" / "main.py")]
    say("running %s (MICROPYPATH=%s STORE=%s COUNT=%s)" % (" ".join(cmd), env["MICROPYPATH"], store, count))
    return subprocess.Popen(cmd, cwd=str(REPO), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True, bufsize=1)


class Board:
    """One boot of the board: its process and its output, printed as it comes."""

    def __init__(self, proc):
        self.proc = proc
        self.lines = []
        self.reader = threading.Thread(target=self._pump, daemon=True)
        self.reader.start()

    def _pump(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            print("board | " + line.rstrip("\n"), flush=True)

    def readings(self, state=None):
        """(seq, uptime_ms) of the readings the app said it published (state: "delivered" or "queued")."""
        out = []
        for line in list(self.lines):
            w = line.split()
            if line.startswith("telemetry: reading ") and len(w) == 7 and (state is None or w[6] == state):
                out.append((int(w[2]), int(w[4])))
        return out

    def wait_for(self, cond, timeout):
        end = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > end or self.proc.poll() is not None:
                return cond()
            time.sleep(0.05)
        return True

    def kill(self):
        self.proc.kill()  # our own child, by its PID: a power cut
        self.proc.wait(10)
        self.reader.join(5)

    def finish(self, timeout):
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            say("the board did not finish within %d s: killing it (pid %d)" % (timeout, self.proc.pid))
            self.kill()
            code = self.proc.returncode
        self.reader.join(5)
        return code


def sub_wait(sub, cond, timeout):
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            return False
        time.sleep(0.1)
    return True


def main(argv=()):
    use_async = "--async" in argv
    try:
        binary = broker_mod.find_or_install()
    except broker_mod.BrokerUnavailable as e:
        print("demo: cannot run: the real Emitter broker is unavailable (it is never faked):\n%s" % e,
              file=sys.stderr)
        print("demo: set EMITTER_BIN=/path/to/emitter to use a broker built elsewhere", file=sys.stderr)
        return 2
    umqtt_dir = runtimes.default_umqtt_dir()
    problem = runtimes.check_umqtt_dir(umqtt_dir)
    if problem:
        print("demo: cannot run: %s" % problem, file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="emitter-demo-"))
    b = broker_mod.Broker(binary, work)
    try:
        b.start()
    except Exception as e:  # noqa: BLE001 - any failure to start is reported as is
        print("demo: cannot run: the Emitter broker (%s) did not start: %s" % (binary, e), file=sys.stderr)
        b.stop()
        return 2
    say("broker pid %d on 127.0.0.1:%d (log %s)" % (b.proc.pid, b.port, b.log_path))
    sub = board = relay = None
    try:
        key = b.keygen("devices/#/", "rwslp")
        say("key for devices/#/ made through emitter/keygen/")
        sub = Subscriber(b, key)
        if not sub.subscribed.wait(10):
            say("the subscriber got no SUBACK within 10 s")
            return 1
        relay = Relay(b.host, b.port)
        store = str(work / "queue")
        say("the %s telemetry app, reaching the broker through the demo's relay on port %d, its undelivered "
            "readings kept in %s" % ("asyncio" if use_async else "sync", relay.port, store))
        board = Board(run_board(b, key, umqtt_dir, use_async, relay.port, store, count=0))
        if not sub_wait(sub, lambda: len(sub.readings) >= OUTAGE_AFTER, 60):
            say("fewer than %d readings arrived within 60 s" % OUTAGE_AFTER)
            return 1
        say("the device's link to the broker goes down (the relay cut)")
        relay.cut()
        if not board.wait_for(lambda: len(board.readings("queued")) >= QUEUED, 60):
            say("the board did not queue %d readings within 60 s" % QUEUED)
            return 1
        first = board.readings()
        queued = board.readings("queued")
        say("the device loses power with readings %s queued in its store: SIGKILL (pid %d)"
            % (", ".join(str(q[0]) for q in queued), board.proc.pid))
        board.kill()
        obeyed = any("telemetry: command" in line and "interval 2" in line for line in board.lines)
        relay.restore()
        say("the link is back; the device boots again on the same store")
        board = Board(run_board(b, key, umqtt_dir, use_async, relay.port, store, count=max(1, COUNT - len(first))))
        code = board.finish(BOARD_TIMEOUT_S)
        made = first + board.readings()
        sub_wait(sub, lambda: set(made) <= set(sub.readings), 5)
        got = set(sub.readings)
        missing = [m for m in made if m not in got]
        dups = len(sub.readings) - len(got)
        say("summary: board exit %s; readings made %d (%d before the power cut, %s of them queued in the store; "
            "%d after the restart), received %d of them (%d duplicates)%s; command %s: %s"
            % (code, len(made), len(first), len(queued), len(made) - len(first), len(set(made) & got), dups,
               ", missing %s" % ["seq %d at %d ms" % m for m in missing] if missing else "", json.dumps(COMMAND),
               "obeyed by the board" if obeyed else ("sent, not seen obeyed" if sub.command_sent else "not sent")))
        return 0 if not missing and code == 0 else 1
    finally:
        if board is not None and board.proc.poll() is None:
            board.kill()
        if relay is not None:
            relay.close()
        if sub is not None:
            sub.stop()
        pid = b.proc.pid if b.proc else None
        b.stop()
        say("broker stopped (pid %s)" % pid)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
