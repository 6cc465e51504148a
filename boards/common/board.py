"""What the WiFi boards (ESP32, Pico W) share: WiFi with retry, an LED, the watchdog, reset."""
import machine

from wifi import WiFi


class Board:
    """A board for Telemetry; subclasses add temperature()."""

    def __init__(self, config, led_pin, wdt_ms):
        self.net = WiFi(config.WIFI_SSID, config.WIFI_PASSWORD, config.WIFI_TIMEOUT_MS, config.WIFI_RETRY_MS)
        self.pin = machine.Pin(led_pin, machine.Pin.OUT)
        self.wdt = machine.WDT(timeout=wdt_ms)

    def wifi(self):
        return self.net.up(self.feed)

    def led(self, on):
        self.pin.value(1 if on else 0)

    def reboot(self):
        machine.reset()

    def feed(self):
        self.wdt.feed()
