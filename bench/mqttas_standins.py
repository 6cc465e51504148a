# What mqtt_as needs from a board that the unix port lacks, for bench/aio_heap.py only (test-side,
# never shipped): `network.WLAN`, always connected (the unix port's socket needs no WiFi join), and
# `machine.unique_id`. The loop puts this one module in sys.modules as both `network` and `machine`
# before mqtt_as is imported; WLAN() returns the module itself, whose functions are the interface's
# methods (no class: on a board both modules are C and take no heap, so this takes as little as it can).
# The mqttas32 build freezes this file; bench/aio_heap.py reports what its import takes.
STA_IF = 0


def WLAN(interface=STA_IF):
    import mqttas_standins
    return mqttas_standins


def active(*on):
    return True


def connect(*args):
    pass


def disconnect():
    pass


def isconnected():
    return True


def unique_id():
    return b"\xbe\x0c\xe7\x00\x00\x17"
