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

# The require()/package() lines, shared with the unix build the tests use (firmware/unix.py).
include("firmware/emitter_micro.py")
