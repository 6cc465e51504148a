# The unix port with emitter_micro and umqtt.simple frozen in (make firmware; the tests' third runtime).
include("$(PORT_DIR)/variants/manifest.py")
include("emitter_micro.py")
