# The unix port as stock firmware is: umqtt.simple frozen, emitter_micro not (it comes as .mpy files).
include("$(PORT_DIR)/variants/manifest.py")
# asyncio as the standard variant and board firmware freeze it (emitter_micro.aio needs it).
include("$(MPY_DIR)/extmod/asyncio")
require("umqtt.simple")
