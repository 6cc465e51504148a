"""`make demo`: the unix-port telemetry board against the REAL Emitter broker.

Starts the broker (tools/broker.py; if it cannot be had, prints why and
exits 2 -- it is never faked), makes a key for devices/#/, subscribes (CPython,
paho) and prints every reading, runs `micropython boards/unix/main.py` with
COUNT=10 INTERVAL_S=1, sends the command {"interval": 2} once the first reading
is in, waits for the board to finish, prints a summary and stops everything.
Exit 0 only if every reading arrived. `--async` (make demo ASYNC=1): the board runs the asyncio app
(boards/common/telemetry_aio.py) instead of the sync one.
"""
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "host_tests"))

import broker as broker_mod  # noqa: E402
import runtimes  # noqa: E402

COUNT = 10
INTERVAL_S = 1
COMMAND = {"interval": 2}
TELEMETRY = "devices/unix-1/telemetry/"
COMMANDS = "devices/unix-1/commands/"
BOARD_TIMEOUT_S = 120


def say(text):
    print("demo: " + text, flush=True)


class Subscriber:
    """Prints every reading; sends the command once the first reading is in."""

    def __init__(self, b, key):
        import paho.mqtt.client as mqtt

        self.key = key
        self.seqs = []
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


def run_board(b, key, umqtt_dir, use_async=False):
    exe = runtimes.micropython_cmd()
    if exe is None:
        raise RuntimeError("`micropython` not found beside %s nor on PATH" % sys.executable)
    env = dict(os.environ)
    env.update({
        "MICROPYPATH": ":".join([".frozen", str(REPO / "boards" / "unix"), str(REPO / "boards" / "common"),
                                 str(REPO), str(umqtt_dir)]),
        "EMITTER_HOST": b.host, "EMITTER_PORT": str(b.port), "EMITTER_KEY": key,
        "EMITTER_CHANNEL": TELEMETRY, "EMITTER_COMMANDS": COMMANDS,
        "COUNT": str(COUNT), "INTERVAL_S": str(INTERVAL_S), "ASYNC": "1" if use_async else "0",
    })
    cmd = [exe, str(REPO / "boards" / "unix" / "main.py")]
    say("running %s (MICROPYPATH=%s)" % (" ".join(cmd), env["MICROPYPATH"]))
    return subprocess.Popen(cmd, cwd=str(REPO), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True, bufsize=1)


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
    sub = board = None
    board_lines = []
    try:
        key = b.keygen("devices/#/", "rwslp")
        say("key for devices/#/ made through emitter/keygen/")
        sub = Subscriber(b, key)
        if not sub.subscribed.wait(10):
            say("the subscriber got no SUBACK within 10 s")
            return 1
        say("the %s telemetry app" % ("asyncio" if use_async else "sync"))
        board = run_board(b, key, umqtt_dir, use_async)

        def pump():
            for line in board.stdout:
                board_lines.append(line.rstrip("\n"))
                print("board | " + line.rstrip("\n"), flush=True)

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        try:
            code = board.wait(BOARD_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            say("the board did not finish within %d s: killing it (pid %d)" % (BOARD_TIMEOUT_S, board.pid))
            board.kill()
            code = board.wait(10)
        reader.join(5)
        end = time.monotonic() + 5
        while len(set(sub.seqs)) < COUNT and time.monotonic() < end:
            time.sleep(0.1)
        got = sorted(set(sub.seqs))
        missing = sorted(set(range(1, COUNT + 1)) - set(got))
        obeyed = any("telemetry: command" in line and "interval 2" in line for line in board_lines)
        say("summary: board exit %s; readings sent %d, received %d (%d duplicates)%s; "
            "command %s: %s"
            % (code, COUNT, len(got), len(sub.seqs) - len(got),
               ", missing %s" % missing if missing else "", json.dumps(COMMAND),
               "obeyed by the board" if obeyed else ("sent, not seen obeyed" if sub.command_sent else "not sent")))
        return 0 if not missing and code == 0 else 1
    finally:
        if board is not None and board.poll() is None:
            board.kill()
            board.wait(10)
        if sub is not None:
            sub.stop()
        pid = b.proc.pid if b.proc else None
        b.stop()
        say("broker stopped (pid %s)" % pid)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
