"""The telemetry app under the MicroPython unix port (used by `make demo`): no WiFi, no sensor hardware."""
import config
from telemetry import Telemetry


class Unix:
    def __init__(self):
        self.readings = 0

    def wifi(self):
        return True

    def temperature(self):
        try:
            with open("/sys/class/thermal/thermal_zone0/temp") as f:
                return int(f.read()) / 1000
        except (OSError, ValueError):
            self.readings += 1
            return 20 + self.readings % 10 / 10  # no sensor here: a visible ramp

    def led(self, on):
        print("led", "on" if on else "off")

    def reboot(self):
        print("reboot asked for: ignored on the unix port")

    def feed(self):
        pass


if getattr(config, "ASYNC", False):  # the asyncio app: boards/common/telemetry_aio.py
    from telemetry_aio import run
    run(config, Unix())
else:
    Telemetry(config, Unix()).run(config.COUNT)
