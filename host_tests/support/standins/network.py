"""Stand-in for MicroPython's network module (board tests on the unix port): only the radio is faked."""
STA_IF = 0
AP_IF = 1
# Scenarios steer the radio: "drop_at" = the isconnected() call from which the link is lost,
# "join_after" = connect() attempts that fail before one joins.
state = {"calls": 0, "drop_at": None, "join_after": 0, "joins": 0, "drops": 0}
# Called when the radio link drops and when a join succeeds (the board test cuts and restores the
# device's route to the broker with them).
hooks = {"drop": None, "join": None}


def _call(name):
    if hooks[name]:
        hooks[name]()


class WLAN:
    def __init__(self, iface=STA_IF):
        self._up = False
        self._active = False

    def active(self, flag=None):
        if flag is not None:
            self._active = flag
        return self._active

    def connect(self, ssid, password):
        assert self._active, "connect() before active(True)"
        state["joins"] += 1
        if state["joins"] > state["join_after"]:
            self._up = True
            _call("join")

    def disconnect(self):
        self._up = False

    def isconnected(self):
        state["calls"] += 1
        if state["drop_at"] is not None and state["calls"] >= state["drop_at"] and self._up:
            state["drop_at"] = None
            state["drops"] += 1
            self._up = False
            _call("drop")
        return self._up

    def ifconfig(self):
        return ("10.0.0.2", "255.255.255.0", "10.0.0.1", "10.0.0.1")
