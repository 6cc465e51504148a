"""Raspberry Pi Pico W telemetry: RP2040 temperature sensor (ADC 4), LED, watchdog, WiFi with retry."""
import machine

import config
from telemetry import Telemetry
from wifi import WiFi

_WDT_MAX_MS = 8388  # the RP2040 watchdog cannot count longer


class PicoW:
    def __init__(self):
        self.net = WiFi(config.WIFI_SSID, config.WIFI_PASSWORD, config.WIFI_TIMEOUT_MS, config.WIFI_RETRY_MS)
        self.adc = machine.ADC(4)
        self.pin = machine.Pin("LED", machine.Pin.OUT)
        self.wdt = machine.WDT(timeout=min(config.WDT_MS, _WDT_MAX_MS))

    def wifi(self):
        return self.net.up(self.feed)

    def temperature(self):
        volts = self.adc.read_u16() * 3.3 / 65535
        return round(27 - (volts - 0.706) / 0.001721, 1)  # RP2040 datasheet, section 4.9.5

    def led(self, on):
        self.pin.value(1 if on else 0)

    def reboot(self):
        machine.reset()

    def feed(self):
        self.wdt.feed()


Telemetry(config, PicoW()).run(getattr(config, "COUNT", None))  # COUNT: tests stop after that many readings
