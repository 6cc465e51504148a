# The unix port as stock firmware is: umqtt.simple frozen, emitter_micro not (it comes as .mpy files).
include("$(PORT_DIR)/variants/manifest.py")
require("umqtt.simple")
