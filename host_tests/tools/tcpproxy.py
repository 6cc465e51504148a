"""A loopback TCP relay for tests that need a half-open link (CPython, threads).

It is not a broker and speaks no MQTT: it copies bytes between a client and
the real broker.  `pause()` stops copying in both directions WITHOUT closing
anything: both ends stay connected, writes still succeed into the kernel
buffers, nothing arrives -- what a device sees when its WiFi or a NAT drops
the link silently.  New connections made while paused are accepted and held
the same way.  `resume()` closes the connections that were held (they are the
dead half-open links) and copies again for new ones.

Device code (either runtime) can steer it through a control port: connect,
send one line `pause`, `resume` or `drop` (close every connection now), read
the `ok` line.

    proxy = TcpProxy(("127.0.0.1", broker_port)).start()
    proxy.port, proxy.control_port
    proxy.pause(); proxy.resume(); proxy.drop(); proxy.stop()
"""
import socket
import threading
import time


class TcpProxy:
    def __init__(self, target, host="127.0.0.1"):
        self.target = tuple(target)
        self.host = host
        self._listen = socket.create_server((host, 0))
        self._ctl = socket.create_server((host, 0))
        self.port = self._listen.getsockname()[1]
        self.control_port = self._ctl.getsockname()[1]
        self._forward = threading.Event()
        self._forward.set()
        self._lock = threading.Lock()
        self._pairs = []      # [client socket, upstream socket or None]
        self._stopped = False
        self.accepted = 0
        self.paused_at = None
        self.log = []         # (monotonic time, text) of what happened

    # --- public ------------------------------------------------------------
    def start(self):
        for target in (self._accept_loop, self._control_loop):
            threading.Thread(target=target, daemon=True).start()
        return self

    def pause(self):
        """Stop copying bytes; close nothing."""
        self._forward.clear()
        self.paused_at = time.monotonic()
        self._note("pause")

    def resume(self):
        """Close the links held while paused and copy again for new ones."""
        with self._lock:
            held, self._pairs = self._pairs, []
        for pair in held:
            self._close(pair)
        self.paused_at = None
        self._forward.set()
        self._note("resume: closed %d held connection(s)" % len(held))

    def drop(self):
        """Close every connection at once (a reset the device does see)."""
        with self._lock:
            held, self._pairs = self._pairs, []
        for pair in held:
            self._close(pair)
        self._note("drop: closed %d connection(s)" % len(held))

    def stop(self):
        self._stopped = True
        self._forward.set()
        for s in (self._listen, self._ctl):
            try:
                s.close()
            except OSError:
                pass
        self.drop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # --- internals -----------------------------------------------------------
    def _note(self, text):
        self.log.append((time.monotonic(), text))

    @staticmethod
    def _close(pair):
        for s in pair:
            if s is not None:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                try:
                    s.close()
                except OSError:
                    pass

    def _accept_loop(self):
        while not self._stopped:
            try:
                client, _ = self._listen.accept()
            except OSError:
                return
            self.accepted += 1
            pair = [client, None]
            with self._lock:
                self._pairs.append(pair)
            threading.Thread(target=self._open, args=(pair,), daemon=True).start()

    def _open(self, pair):
        # Held (accepted, not connected upstream) while paused.
        self._forward.wait()
        if self._stopped or pair not in self._pairs:
            return
        try:
            pair[1] = socket.create_connection(self.target, timeout=5)
            pair[1].settimeout(None)
        except OSError as e:
            self._note("upstream connect failed: %s" % e)
            self._close(pair)
            return
        for src, dst in ((pair[0], pair[1]), (pair[1], pair[0])):
            threading.Thread(target=self._pump, args=(pair, src, dst), daemon=True).start()

    def _pump(self, pair, src, dst):
        while not self._stopped:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                # One side closed: close both, unless paused (a half-open link shows nothing).
                if self._forward.is_set():
                    self._close(pair)
                return
            # Paused: hold the bytes, and drop them if the link is closed meanwhile.
            while not self._forward.wait(0.05):
                if self._stopped:
                    return
            with self._lock:
                alive = pair in self._pairs
            if not alive:
                return
            try:
                dst.sendall(data)
            except OSError:
                self._close(pair)
                return

    def _control_loop(self):
        while not self._stopped:
            try:
                conn, _ = self._ctl.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                try:
                    line = b""
                    while not line.endswith(b"\n"):
                        chunk = conn.recv(64)
                        if not chunk:
                            break
                        line += chunk
                    cmd = line.strip().decode(errors="replace")
                    if cmd in ("pause", "resume", "drop"):
                        getattr(self, cmd)()
                        conn.sendall(b"ok\n")
                    else:
                        conn.sendall(b"unknown command %r\n" % cmd.encode())
                except OSError:
                    pass
