"""Raspberry Pi Pico W telemetry: the RP2040 temperature sensor (ADC 4); WiFi, LED and watchdog from boards/common."""
import machine

import config
from board import Board
from telemetry import Telemetry

_WDT_MAX_MS = 8388  # the RP2040 watchdog cannot count longer


class PicoW(Board):
    def __init__(self):
        super().__init__(config, "LED", min(config.WDT_MS, _WDT_MAX_MS))
        self.adc = machine.ADC(4)

    def temperature(self):
        volts = self.adc.read_u16() * 3.3 / 65535
        return round(27 - (volts - 0.706) / 0.001721, 1)  # RP2040 datasheet, section 4.9.5


if getattr(config, "ASYNC", False):  # the asyncio app: boards/common/telemetry_aio.py
    from telemetry_aio import run
    run(config, PicoW())
else:
    Telemetry(config, PicoW()).run(getattr(config, "COUNT", None))  # COUNT: tests stop after that many readings
