# mqttas32 (tools/firmware.py): the unix port with mqtt_as 0.8.3 and asyncio frozen, the switches of
# frozen32, for bench/aio_heap.py's frozen row (mqtt_as beside emitter_micro.aio, both frozen). Measured,
# never shipped: mqtt_as comes from ../shared/upstream/micropython-mqtt-7b6a11d.tar.gz, extracted by
# tools/firmware.py into .deps/src (gitignored), and is never copied into this repository.
include("$(PORT_DIR)/variants/manifest.py")
include("$(MPY_DIR)/extmod/asyncio")
package("mqtt_as", files=["__init__.py"], base_path="../.deps/src/micropython-mqtt-7b6a11d")
# network.WLAN and machine.unique_id, which the unix port lacks (C modules on a board).
module("mqttas_standins.py", base_path="../bench")
