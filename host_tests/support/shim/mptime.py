"""MicroPython's ticks_* and sleep_* functions, patched onto CPython's `time`.

The counters wrap at 2**30 like on real boards, and they start about
WRAP_AFTER_S seconds before a wrap so that wrap bugs show up in tests
(default 3; env SHIM_TICKS_WRAP_AFTER_S moves the wrap, e.g. into one scenario).
"""
import os as _os
import time as _time

TICKS_PERIOD = 1 << 30
TICKS_MAX = TICKS_PERIOD - 1
TICKS_HALFPERIOD = TICKS_PERIOD >> 1
WRAP_AFTER_S = float(_os.environ.get("SHIM_TICKS_WRAP_AFTER_S", "3"))

_ms_offset = 0
_us_offset = 0


def _reset(wrap_after_s=WRAP_AFTER_S):
    """Restart both counters so they wrap wrap_after_s seconds from now."""
    global _ms_offset, _us_offset
    now_ns = _time.monotonic_ns()
    _ms_offset = TICKS_PERIOD - int(wrap_after_s * 1000) - now_ns // 1_000_000
    _us_offset = TICKS_PERIOD - int(wrap_after_s * 1_000_000) - now_ns // 1000


def ticks_ms():
    return (_time.monotonic_ns() // 1_000_000 + _ms_offset) & TICKS_MAX


def ticks_us():
    return (_time.monotonic_ns() // 1000 + _us_offset) & TICKS_MAX


def ticks_cpu():
    return ticks_us()


def ticks_add(ticks, delta):
    return (ticks + delta) & TICKS_MAX


def ticks_diff(end, start):
    return ((end - start + TICKS_HALFPERIOD) & TICKS_MAX) - TICKS_HALFPERIOD


def sleep_ms(ms):
    if ms > 0:
        _time.sleep(ms / 1000)


def sleep_us(us):
    if us > 0:
        _time.sleep(us / 1_000_000)


def install():
    _reset()
    for name in ("ticks_ms", "ticks_us", "ticks_cpu", "ticks_add", "ticks_diff",
                 "sleep_ms", "sleep_us"):
        setattr(_time, name, globals()[name])
