"""network for the lwip32 build: the Pico W's WLAN surface over lwiptap (firmware/lwip/lwiptap.c).

The station interface is the TAP netif: connect() joins (the link comes up $LWIP_JOIN_MS later,
200 ms by default, if the "access point" is in range, else status() ends at STAT_NO_AP_FOUND),
isconnected() is True while the link is up, status() gives the Pico W's values. The test hook
(lwiptap.link(False/True), or SIGUSR1/SIGUSR2 from outside) takes the access point away and brings
it back; a dropped station stays down until the application calls connect() again, as on a Pico W.
Kept to what board code calls: the module costs heap here (about 0.6 KB on 32-bit) where rp2's C
one costs none.
"""
import lwiptap

STA_IF = 0
AP_IF = 1

# rp2's values (the cyw43 driver's link states).
STAT_IDLE = 0
STAT_CONNECTING = 1
STAT_WRONG_PASSWORD = -3
STAT_NO_AP_FOUND = -2
STAT_CONNECT_FAIL = -1
STAT_GOT_IP = 3


class WLAN:
    # All the state is the interface's, not the object's: every WLAN(STA_IF) is the same station.
    _active = [False, False]
    _config = {"ssid": ""}

    def __init__(self, iface=STA_IF):
        if iface not in (STA_IF, AP_IF):
            raise ValueError("unknown interface")
        self._if = iface

    def active(self, flag=None):
        if flag is None:
            return self._active[self._if]
        self._active[self._if] = bool(flag)
        if not flag and self._if == STA_IF:
            lwiptap.disconnect()

    def connect(self, ssid=None, key=None, **kw):
        # The AP interface is inert here: there is one station, on the TAP device.
        if self._if != STA_IF:
            raise OSError(1)
        self._active[STA_IF] = True  # joining brings the chip up, as cyw43_wifi_join does
        if ssid is not None:
            self._config["ssid"] = ssid
        lwiptap.connect()

    def disconnect(self):
        if self._if == STA_IF:
            lwiptap.disconnect()

    def isconnected(self):
        return self._if == STA_IF and lwiptap.status() == STAT_GOT_IP

    def status(self, param=None):
        if param == "rssi":
            return -45
        if param is not None:
            raise ValueError("unknown status param")
        return lwiptap.status() if self._if == STA_IF else STAT_IDLE

    def ifconfig(self, config=None):
        if self._if != STA_IF:
            return ("0.0.0.0",) * 4
        return lwiptap.ifconfig() if config is None else lwiptap.ifconfig(config)

    def config(self, *args, **kwargs):
        # Setting anything is accepted (pm=, hostname=, ...); reading gives what was set, the MAC and ssid.
        if kwargs:
            self._config.update(kwargs)
            return None
        if args[0] == "mac":
            return lwiptap.mac()
        return self._config["ssid" if args[0] == "essid" else args[0]]
