"""The telemetry app every board runs: a JSON reading out at QoS 1 every N seconds, commands in.

A board supplies what differs (see boards/*/main.py): temperature(), led(on),
reboot(), feed() for the watchdog, and wifi() that returns True once the
network is up (or at once where there is no WiFi).
"""
import time

import emitter_micro


class Telemetry:
    """Publishes readings, obeys commands ({"interval": s}, {"led": bool}, {"reboot": true})."""

    def __init__(self, config, board):
        self.config = config
        self.board = board
        self.interval = config.INTERVAL_S
        self.seq = 0
        self.emitter = None

    def start(self):
        c = self.config
        self.board.wifi()
        em = self.emitter = emitter_micro.Emitter(self.options())
        em.on("error", self.on_error)
        em.on("connect", lambda: print("telemetry: connected"))
        em.on("disconnect", lambda: print("telemetry: link down, reconnecting"))
        em.connect()
        em.subscribe(c.KEY, c.COMMAND_CHANNEL, handler=self.on_command)
        return em

    def options(self):
        """config.EMITTER, with config.STORE (a path on the board's flash; empty or missing: none) as the
        "store" option: readings not yet delivered are kept there across a reboot."""
        o = self.config.EMITTER
        store = getattr(self.config, "STORE", "")
        return dict(o, store=store) if store else o

    def on_error(self, err):
        print("telemetry: error", err.get("status"), err.get("message"))

    def on_command(self, msg):
        try:
            cmd = msg.asObject()
            if "interval" in cmd:
                self.interval = max(1, int(cmd["interval"]))
            if "led" in cmd:
                self.board.led(bool(cmd["led"]))
            if cmd.get("reboot"):
                self.board.reboot()
        except (ValueError, TypeError, AttributeError) as e:
            self.on_error({"status": 400, "message": "bad command %r: %r" % (msg.binary, e)})
        print("telemetry: command", msg.binary, "interval", self.interval)

    def reading(self):
        self.seq += 1
        return {"seq": self.seq, "uptime_ms": time.ticks_ms(), "temp_c": self.board.temperature()}

    def published(self, r):
        """Say what became of reading r: delivered (acknowledged), or queued until the link is back."""
        print("telemetry: reading %d at %d ms %s" % (r["seq"], r["uptime_ms"],
                                                     "queued" if self.emitter.pending() else "delivered"))

    def run(self, count=None):
        """Publish count readings (None: forever), driving the client between them."""
        em = self.emitter or self.start()
        due = time.ticks_ms()
        while count is None or self.seq < count:
            self.board.feed()
            if not self.board.wifi():
                time.sleep_ms(200)
                continue
            now = time.ticks_ms()
            if time.ticks_diff(now, due) >= 0:
                r = self.reading()
                em.publish(self.config.KEY, self.config.CHANNEL, r, qos=1)
                self.published(r)
                due = time.ticks_add(now, self.interval * 1000)
            em.loop(min(200, max(0, time.ticks_diff(due, time.ticks_ms()))))
        em.flush(5000)
        return em
