# Copy to the board as config.py and fill in. See README "Boards".
WIFI_SSID = "your-wifi"
WIFI_PASSWORD = "your-password"
# A key made for devices/pico-1/#/ with "rw" (keygen, see README): it publishes the readings and reads commands.
KEY = "your-channel-key"
CHANNEL = "devices/pico-1/telemetry/"
COMMAND_CHANNEL = "devices/pico-1/commands/"
INTERVAL_S = 10
WIFI_TIMEOUT_MS = 15000  # one join attempt
WIFI_RETRY_MS = 5000  # pause between attempts
WDT_MS = 8000  # the RP2040 maximum is 8388 ms: keep the socket timeout well below it
EMITTER = {"host": "192.168.1.10", "port": 8080, "secure": False, "keepalive": 30, "timeout": 3}
# Verified TLS: {"host": "broker.example.com", "port": 443, "secure": True, "ca": "/ca.der"}
STORE = "/queue"  # readings not yet delivered kept on the board's flash across a reboot; "" for none
ASYNC = False  # True: the asyncio app (boards/common/telemetry_aio.py): sensor, commands, watchdog as tasks
