"""CPython shim that lets MicroPython device code run under pytest.

`install()` is called by host_tests/conftest.py before any device code is
imported. Device code never imports this package.

Error numbers (shim/errnos.py): SHIM_ERRNO=esp32 gives device code ESP32's (ETIMEDOUT 116, not
110), and the shim's sockets raise those. CPython and pytest keep theirs: sys.modules["errno"]
is never swapped, since a stdlib module imported later (lazily, as pytest's tmp_path, shutil,
tempfile, asyncio do) would bind the swapped one and compare the kernel's Linux numbers against
ESP32's. Instead builtins.__import__ answers `import errno` / `from errno import ...` with the
ESP32 module for the importing module's globals only when that module is device code: the
emitter_micro and umqtt packages (by __name__), host_tests/support/rogue_peer.py,
host_tests/link_faults/link_faults_client.py and host_tests/link_faults/rogue_scenarios/ (by __file__). Every other
import, and every other module's `import errno`, goes to the original __import__ unchanged,
and importlib.import_module or C code never see the hook. "uerrno" (no stdlib module imports
it) is the ESP32 module. Without SHIM_ERRNO (or with SHIM_ERRNO=linux) nothing of this is
installed: device code gets CPython's errno, as before.
"""
import binascii
import io
import json
import os
import random
import select
import struct
import sys
import time
import traceback
from pathlib import Path

from . import errnos as _errnos
from . import micropython as _micropython
from . import mptime as _mptime
from . import usocket as _usocket
from . import ussl as _ussl

HOST_TESTS = Path(__file__).resolve().parents[2]
REPO = HOST_TESTS.parent

_installed = False
_umqtt_dirs = set()  # umqtt folders this module put on sys.path


def _print_exception(exc, file=None):
    traceback.print_exception(type(exc), exc, exc.__traceback__, file=file or sys.stdout)


def install():
    """Register the MicroPython-only modules and patch `time` (idempotent)."""
    global _installed
    if _installed:
        return
    _installed = True
    _mptime.install()
    aliases = {
        "micropython": _micropython,
        "usocket": _usocket,
        "ussl": _ussl,
        "tls": _ussl,
        "ustruct": struct,
        "ubinascii": binascii,
        "ujson": json,
        "uerrno": _errnos.device,
        "uselect": select,
        "utime": time,
        "uos": os,
        "uio": io,
        "urandom": random,
        "usys": sys,
    }
    for name, mod in aliases.items():
        sys.modules.setdefault(name, mod)
    _errnos.install_import((HOST_TESTS / "support" / "rogue_peer.py", HOST_TESTS / "link_faults" / "link_faults_client.py",
                            str(HOST_TESTS / "link_faults" / "rogue_scenarios") + os.sep))
    if not hasattr(sys, "print_exception"):
        sys.print_exception = _print_exception


def _purge(prefixes):
    for name in list(sys.modules):
        if any(name == p or name.startswith(p + ".") for p in prefixes):
            del sys.modules[name]


def import_fresh(umqtt_dir, with_emitter=True):
    """Import umqtt.simple (and emitter_micro) anew from umqtt_dir.

    Returns (umqtt.simple module, emitter_micro module or None).
    """
    install()
    umqtt_dir = str(Path(umqtt_dir).resolve())
    if not Path(umqtt_dir, "umqtt", "simple.py").is_file():
        raise FileNotFoundError("no umqtt/simple.py under %s" % umqtt_dir)
    _purge(("umqtt", "emitter_micro"))
    # Only one umqtt folder on sys.path: a regular package in another folder
    # would win over a namespace package (1.8 may ship no umqtt/__init__.py).
    _umqtt_dirs.add(umqtt_dir)
    sys.path[:] = [p for p in sys.path if p not in _umqtt_dirs]
    sys.path.insert(0, umqtt_dir)
    if str(REPO) not in sys.path:
        sys.path.insert(1, str(REPO))
    import umqtt.simple as simple
    # umqtt 1.8 does `import socket`: point it at the shim, leave CPython's alone.
    if not str(Path(simple.__file__).resolve()).startswith(umqtt_dir + os.sep):
        raise ImportError("umqtt.simple came from %s, not %s" % (simple.__file__, umqtt_dir))
    simple.socket = _usocket
    emitter = None
    if with_emitter:
        import emitter_micro as emitter
        import emitter_micro.tls as tls
        # Device code's `import ssl` is CPython's here, which cannot wrap the shim's sockets.
        tls.ssl = _ussl
    return simple, emitter
