# Freeze emitter_micro and umqtt.simple into a MicroPython firmware image.
#
#   cd micropython/ports/rp2   # or ports/esp32
#   make BOARD=RPI_PICO_W FROZEN_MANIFEST=/path/to/emitter_micro/firmware_manifest.py
#
# FROZEN_MANIFEST replaces the board's own manifest, so the port's default one
# comes first. Boards whose manifest adds more than the port's (RPI_PICO_W adds
# require("bundle-networking")) can use include("$(BOARD_DIR)/manifest.py") instead.
metadata(description="Emitter (emitter.io) client for MicroPython, on umqtt.simple", version="0.1.0")

include("$(PORT_DIR)/boards/manifest.py")

# From micropython-lib ($(MPY_LIB_DIR), which the firmware build points at its lib/micropython-lib).
require("umqtt.simple")

# emitter_micro/*.py beside this file: package() paths are relative to the manifest's folder.
package("emitter_micro")
