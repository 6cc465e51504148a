# What every firmware with emitter_micro freezes: included by ../firmware_manifest.py (boards)
# and by unix.py (the unix port the tests build). Paths are relative to this folder.
# From micropython-lib ($(MPY_LIB_DIR); a board build points it at its lib/micropython-lib).
require("umqtt.simple")

package("emitter_micro", base_path="..")
