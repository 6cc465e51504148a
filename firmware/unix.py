# The unix port with emitter_micro and umqtt.simple frozen in (make firmware; the tests' third runtime).
include("$(PORT_DIR)/variants/manifest.py")
# asyncio as the standard variant and board firmware freeze it (emitter_micro.aio needs it).
include("$(MPY_DIR)/extmod/asyncio")
include("emitter_micro.py")
