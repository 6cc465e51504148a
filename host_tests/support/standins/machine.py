"""Stand-in for MicroPython's machine module (board tests on the unix port)."""
import time

log = {"led": [], "resets": 0, "wdt_timeout": None, "feeds": 0, "max_gap_ms": 0, "adc": []}


class Pin:
    OUT = 1
    IN = 0

    def __init__(self, pin, mode=None):
        self.pin = pin

    def value(self, v=None):
        if v is not None:
            log["led"].append((self.pin, v))


class ADC:
    def __init__(self, channel):
        log["adc"].append(channel)

    def read_u16(self):
        return 14000  # about 0.705 V: 27 degrees C on the RP2040 sensor


class WDT:
    def __init__(self, id=0, timeout=5000):
        log["wdt_timeout"] = timeout
        self.last = time.ticks_ms()

    def feed(self):
        now = time.ticks_ms()
        log["max_gap_ms"] = max(log["max_gap_ms"], time.ticks_diff(now, self.last))
        log["feeds"] += 1
        self.last = now


class ResetCalled(SystemExit):
    """A real reset never returns: like it, this is not an Exception a handler guard could catch."""


def reset():
    log["resets"] += 1
    raise ResetCalled()
