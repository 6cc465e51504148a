"""ESP32 telemetry: the on-chip temperature sensor; WiFi, LED and watchdog from boards/common."""
import config
from board import Board
from telemetry import Telemetry


class ESP32(Board):
    def __init__(self):
        super().__init__(config, config.LED_PIN, config.WDT_MS)

    def temperature(self):
        import esp32
        if hasattr(esp32, "mcu_temperature"):  # ESP32-S2/S3/C3/C6
            return esp32.mcu_temperature()
        return round((esp32.raw_temperature() - 32) / 1.8, 1)  # the original ESP32 reports Fahrenheit


if getattr(config, "ASYNC", False):  # the asyncio app: boards/common/telemetry_aio.py
    from telemetry_aio import run
    run(config, ESP32())
else:
    Telemetry(config, ESP32()).run(getattr(config, "COUNT", None))  # COUNT: tests stop after that many readings
