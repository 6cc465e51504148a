"""WiFi for boards with network.WLAN (ESP32, Pico W): join with retry, bounded in time."""
import time

import network


class WiFi:
    def __init__(self, ssid, password, timeout_ms=15000, retry_ms=5000):
        self.ssid = ssid
        self.password = password
        self.timeout_ms = timeout_ms
        self.retry_ms = retry_ms
        self.wlan = network.WLAN(network.STA_IF)
        self.next_try = time.ticks_ms()

    def up(self, feed=None):
        """True when joined; otherwise one join attempt (bounded by timeout_ms) when due."""
        w = self.wlan
        if w.isconnected():
            return True
        if time.ticks_diff(time.ticks_ms(), self.next_try) < 0:
            return False
        w.active(True)
        w.connect(self.ssid, self.password)
        end = time.ticks_add(time.ticks_ms(), self.timeout_ms)
        while not w.isconnected() and time.ticks_diff(end, time.ticks_ms()) > 0:
            if feed:
                feed()
            time.sleep_ms(100)
        if w.isconnected():
            print("wifi: up", w.ifconfig()[0])
            return True
        print("wifi: no link to", self.ssid, "- retrying in", self.retry_ms, "ms")
        w.disconnect()
        self.next_try = time.ticks_add(time.ticks_ms(), self.retry_ms)
        return False
