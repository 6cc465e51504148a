"""ESP32 telemetry: on-chip temperature sensor, LED, watchdog, WiFi with retry."""
import machine

import config
from telemetry import Telemetry
from wifi import WiFi


class ESP32:
    def __init__(self):
        self.net = WiFi(config.WIFI_SSID, config.WIFI_PASSWORD, config.WIFI_TIMEOUT_MS, config.WIFI_RETRY_MS)
        self.pin = machine.Pin(config.LED_PIN, machine.Pin.OUT)
        self.wdt = machine.WDT(timeout=config.WDT_MS)

    def wifi(self):
        return self.net.up(self.feed)

    def temperature(self):
        import esp32
        if hasattr(esp32, "mcu_temperature"):  # ESP32-S2/S3/C3/C6
            return esp32.mcu_temperature()
        return round((esp32.raw_temperature() - 32) / 1.8, 1)  # the original ESP32 reports Fahrenheit

    def led(self, on):
        self.pin.value(1 if on else 0)

    def reboot(self):
        machine.reset()

    def feed(self):
        self.wdt.feed()


Telemetry(config, ESP32()).run(getattr(config, "COUNT", None))  # COUNT: tests stop after that many readings
