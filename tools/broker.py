"""The real Emitter broker for tests (never a fake, never another broker).

Binary: tools/upstream.py's emitter() ($EMITTER_BIN, the cache in .deps/bin,
`go install` of the pinned version, or a build from $EMITTER_SRC / the archive in
../shared/upstream/). When none can be had, `find_or_install()` raises
BrokerUnavailable with the reason.

    python tools/broker.py install   # fetch into .deps/bin (used by make)
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 30
REQUEST_TIMEOUT_S = 10
# For people without Go: EMITTER_MICRO_NO_BROKER=1 skips the real-broker tests (off by default:
# a broker that cannot be had is a failure with the reason).
OPT_OUT = "EMITTER_MICRO_NO_BROKER"

sys.path.insert(0, str(REPO / "tools"))
import netns  # noqa: E402
import upstream  # noqa: E402

BrokerUnavailable = upstream.Unavailable
_install_error = None  # the reason, so a session tries go only once


def find_or_install():
    """Path of the emitter binary (tools/upstream.py: env, cache, go install, source build)."""
    global _install_error
    if _install_error is not None:
        raise BrokerUnavailable(_install_error)
    try:
        return upstream.emitter()
    except BrokerUnavailable as e:
        _install_error = str(e)
        raise


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port, deadline, proc):
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


_LICENSE_RE = re.compile(r"generated new license:\s*(\S+)")
_SECRET_RE = re.compile(r"generated new secret key:\s*(\S+)")


def terminate(proc):
    """Stop a child process by its PID: SIGTERM, SIGKILL after 10 s; wait for it. None or ended: nothing."""
    if proc is not None and proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)


class Broker:
    """One Emitter broker process on loopback (and, inside tools/netns.py's namespace, on its bridge:
    clients dial .host), configured in its own temp dir."""

    def __init__(self, binary, workdir, cluster_name=None, seed=None, license=None, secret=None):
        """cluster_name: e.g. "00:00:00:00:00:01" (two local nodes need distinct names);
        seed: "127.0.0.1:<cluster port of a running node>" to join its cluster;
        license/secret: reuse another node's (a cluster shares one license)."""
        self.binary = str(binary)
        self.host = netns.HOST
        self.cluster_name = cluster_name
        self.seed = seed
        self.dir = Path(workdir)
        self.home = self.dir / "home"
        self.config_path = self.dir / "emitter.conf"
        self.log_path = self.dir / "emitter.log"
        self.cert_path = self.dir / "cert.pem"
        self.key_path = self.dir / "key.pem"
        self.ca_path = self.cert_path  # self-signed: the cert is its own CA
        self.port = self.tls_port = self.cluster_port = None
        self.license, self.secret = license, secret
        self.test_key = self.extend_key = None  # keys for "test/#/": rwslp (traffic), rwslpex (private links)
        self.proc = None
        self._log = None

    def _env(self):
        return dict(os.environ, HOME=str(self.home))

    # --- setup -----------------------------------------------------------
    def _new_license(self):
        proc = subprocess.run([self.binary, "license", "new"], cwd=str(self.dir),
                              env=self._env(), capture_output=True, text=True, timeout=60)
        out = proc.stdout + proc.stderr
        lic, sec = _LICENSE_RE.search(out), _SECRET_RE.search(out)
        if proc.returncode != 0 or not lic or not sec:
            raise RuntimeError("`emitter license new` gave no license/secret (exit %s):\n%s"
                               % (proc.returncode, out))
        self.license, self.secret = lic.group(1), sec.group(1)

    def _make_cert(self):
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
             "-keyout", str(self.key_path), "-out", str(self.cert_path), "-days", "3",
             "-subj", "/CN=localhost",
             "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost,IP:%s,DNS:broker.test" % netns.BRIDGE_HOST],
            check=True, capture_output=True, timeout=60)

    def _write_config(self):
        self.port, self.tls_port, self.cluster_port = free_port(), free_port(), free_port()
        while len({self.port, self.tls_port, self.cluster_port}) < 3:
            self.tls_port, self.cluster_port = free_port(), free_port()
        cluster = "127.0.0.1:%d" % self.cluster_port
        cluster_cfg = {"listen": cluster, "advertise": cluster, "dir": str(self.dir / "cluster")}
        if self.cluster_name:
            cluster_cfg["name"] = self.cluster_name
        if self.seed:
            cluster_cfg["seed"] = self.seed
        config = {
            "listen": "%s:%d" % (netns.LISTEN_ALL, self.port),
            "license": self.license,
            "tls": {"listen": "%s:%d" % (netns.LISTEN_ALL, self.tls_port),
                    "certificate": str(self.cert_path), "private": str(self.key_path)},
            "cluster": cluster_cfg,
            "storage": {"provider": "inmemory"},
        }
        self.config_path.write_text(json.dumps(config, indent=2))

    def start(self):
        self.prepare()
        for attempt in (1, 2, 3):
            before = len(self.log())
            try:
                self._launch()
                break
            except RuntimeError:
                # free_port() closes its socket before the broker binds the port, and another process (a
                # client's ephemeral port) may take it meanwhile: fresh ports, twice at most.
                if attempt == 3 or "address already in use" not in self.log()[before:]:
                    raise
                self._write_config()
        # A key with extend (e) is refused for publish and subscribe (pubsub/*.go): traffic uses rwslp.
        self.test_key = self.keygen("test/#/", "rwslp")
        self.extend_key = self.keygen("test/#/", "rwslpex")
        return self

    def prepare(self):
        """License (unless given), certificate and config with fresh ports; not started."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self.home.mkdir(exist_ok=True)
        if not (self.license and self.secret):
            self._new_license()
        self._make_cert()
        self._write_config()
        return self

    def launch(self):
        """Start the process on the prepared config (after prepare(), stop() or kill())."""
        self._launch()
        return self

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    @property
    def cluster_address(self):
        return "127.0.0.1:%d" % self.cluster_port

    def _launch(self):
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([self.binary, "-c", str(self.config_path)],
                                     cwd=str(self.dir), env=self._env(),
                                     stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT_S
        if not (_wait_port(self.port, deadline, self.proc)
                and _wait_port(self.tls_port, deadline, self.proc)):
            code = self.proc.poll()
            self.stop()
            raise RuntimeError("Emitter broker did not accept TCP on %d/%d within %ss "
                               "(exit code %s); log %s:\n%s"
                               % (self.port, self.tls_port, START_TIMEOUT_S, code,
                                  self.log_path, self.log()))

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self):
        """Stop the broker process by its PID and wait for it."""
        proc, self.proc = self.proc, None
        terminate(proc)
        if self._log is not None:
            self._log.close()
            self._log = None

    def kill(self):
        """Kill the broker process by its PID (SIGKILL: no goodbye to any client) and wait."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def restart(self):
        """Stop and start again on the same ports with the same license."""
        self.stop()
        self._launch()

    # --- requests through the protocol itself ------------------------------
    def request(self, op, body, timeout=REQUEST_TIMEOUT_S):
        """Publish `body` (dict) at QoS 1 to emitter/OP/ and return the JSON answer."""
        import paho.mqtt.client as mqtt

        topic = "emitter/%s/" % op
        connected = threading.Event()
        answers = []
        got = threading.Condition()

        def on_connect(client, userdata, flags, reason_code, properties=None):
            connected.set()

        def on_message(client, userdata, msg):
            if msg.topic == topic:
                with got:
                    answers.append(json.loads(msg.payload.decode()))
                    got.notify_all()

        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        client.on_connect = on_connect
        client.on_message = on_message
        client.connect(self.host, self.port, keepalive=30)
        client.loop_start()
        try:
            if not connected.wait(timeout):
                raise RuntimeError("no CONNACK from the broker within %ss" % timeout)
            info = client.publish(topic, json.dumps(body), qos=1)
            deadline = time.monotonic() + timeout
            with got:
                while True:
                    for a in answers:
                        if a.get("req") == info.mid:
                            return a
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise RuntimeError("no answer on %s for req %s within %ss; got %r"
                                           % (topic, info.mid, timeout, answers))
                    got.wait(left)
        finally:
            client.disconnect()
            client.loop_stop()

    def keygen(self, channel, type="rwslp", ttl=0):
        """A key for `channel` made by the broker from the master secret."""
        answer = self.request("keygen", {"key": self.secret, "channel": channel,
                                         "type": type, "ttl": ttl})
        if answer.get("status") != 200 or not answer.get("key"):
            raise RuntimeError("keygen %s %s failed: %r" % (channel, type, answer))
        return answer["key"]


def main(argv):
    if argv[1:] == ["install"]:
        try:
            print(find_or_install())
            return 0
        except BrokerUnavailable as e:
            print("real Emitter broker unavailable (never faked): %s" % e, file=sys.stderr)
            return 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
