"""The error numbers device code sees under the shim: a port's, picked by SHIM_ERRNO.

- unset or `linux` (the default): CPython's own `errno`, the Linux numbers the unix port has too;
  nothing is swapped or translated.
- `esp32`: ESP32's numbers (MicroPython's esp32 port takes errno.h from ESP-IDF's newlib,
  newlib/libc/include/sys/errno.h: ETIMEDOUT 116, ENOTCONN 128, ECONNABORTED 113, EHOSTUNREACH
  118, EINPROGRESS 119 ...), so code that hard-codes a Linux number (110) fails here as it would
  on a board. `device` is then a module of MicroPython's errno names only (py/moderrno.c's
  MICROPY_PY_ERRNO_LIST, plus `errorcode`), and `to_device()` turns an OSError the kernel raised
  (Linux numbers) into one with the ESP32 number of the same name.

How device code gets `device` while CPython keeps its `errno` is in shim/__init__.py's docstring.
"""
import builtins
import errno as _linux
import os
import socket as _socket
import ssl as _ssl
import types

MODE = os.environ.get("SHIM_ERRNO", "").strip().lower() or "linux"
if MODE not in ("linux", "esp32"):
    raise ImportError("SHIM_ERRNO=%r: 'linux' (the default) or 'esp32'" % os.environ["SHIM_ERRNO"])
ESP32 = MODE == "esp32"

# newlib's sys/errno.h, every name it numbers (those under __LINUX_ERRNO_EXTENSIONS__ too; not
# Cygwin's own). Order matters where Linux gives two names one number: the first one maps.
NEWLIB = (
    ("EPERM", 1), ("ENOENT", 2), ("ESRCH", 3), ("EINTR", 4), ("EIO", 5), ("ENXIO", 6), ("E2BIG", 7),
    ("ENOEXEC", 8), ("EBADF", 9), ("ECHILD", 10), ("EAGAIN", 11), ("EWOULDBLOCK", 11), ("ENOMEM", 12),
    ("EACCES", 13), ("EFAULT", 14), ("ENOTBLK", 15), ("EBUSY", 16), ("EEXIST", 17), ("EXDEV", 18),
    ("ENODEV", 19), ("ENOTDIR", 20), ("EISDIR", 21), ("EINVAL", 22), ("ENFILE", 23), ("EMFILE", 24),
    ("ENOTTY", 25), ("ETXTBSY", 26), ("EFBIG", 27), ("ENOSPC", 28), ("ESPIPE", 29), ("EROFS", 30),
    ("EMLINK", 31), ("EPIPE", 32), ("EDOM", 33), ("ERANGE", 34), ("ENOMSG", 35), ("EIDRM", 36),
    ("ECHRNG", 37), ("EL2NSYNC", 38), ("EL3HLT", 39), ("EL3RST", 40), ("ELNRNG", 41), ("EUNATCH", 42),
    ("ENOCSI", 43), ("EL2HLT", 44), ("EDEADLK", 45), ("ENOLCK", 46), ("EBADE", 50), ("EBADR", 51),
    ("EXFULL", 52), ("ENOANO", 53), ("EBADRQC", 54), ("EBADSLT", 55), ("EDEADLOCK", 56), ("EBFONT", 57),
    ("ENOSTR", 60), ("ENODATA", 61), ("ETIME", 62), ("ENOSR", 63), ("ENONET", 64), ("ENOPKG", 65),
    ("EREMOTE", 66), ("ENOLINK", 67), ("EADV", 68), ("ESRMNT", 69), ("ECOMM", 70), ("EPROTO", 71),
    ("EMULTIHOP", 74), ("EBADMSG", 77), ("ENOTUNIQ", 80), ("EBADFD", 81), ("EREMCHG", 82),
    ("ELIBACC", 83), ("ELIBBAD", 84), ("ELIBSCN", 85), ("ELIBMAX", 86), ("ELIBEXEC", 87), ("ENOSYS", 88),
    ("ENOTEMPTY", 90), ("ENAMETOOLONG", 91), ("ELOOP", 92), ("EOPNOTSUPP", 95), ("EPFNOSUPPORT", 96),
    ("ECONNRESET", 104), ("ENOBUFS", 105), ("EAFNOSUPPORT", 106), ("EPROTOTYPE", 107), ("ENOTSOCK", 108),
    ("ENOPROTOOPT", 109), ("ESHUTDOWN", 110), ("ECONNREFUSED", 111), ("EADDRINUSE", 112),
    ("ECONNABORTED", 113), ("ENETUNREACH", 114), ("ENETDOWN", 115), ("ETIMEDOUT", 116), ("EHOSTDOWN", 117),
    ("EHOSTUNREACH", 118), ("EINPROGRESS", 119), ("EALREADY", 120), ("EDESTADDRREQ", 121),
    ("EMSGSIZE", 122), ("EPROTONOSUPPORT", 123), ("ESOCKTNOSUPPORT", 124), ("EADDRNOTAVAIL", 125),
    ("ENETRESET", 126), ("EISCONN", 127), ("ENOTCONN", 128), ("ETOOMANYREFS", 129), ("EPROCLIM", 130),
    ("EUSERS", 131), ("EDQUOT", 132), ("ESTALE", 133), ("ENOTSUP", 134), ("ENOMEDIUM", 135), ("EILSEQ", 138),
    ("EOVERFLOW", 139), ("ECANCELED", 140), ("ENOTRECOVERABLE", 141), ("EOWNERDEAD", 142),
    ("ESTRPIPE", 143),
)

# What MicroPython's errno module holds (py/moderrno.c, MICROPY_PY_ERRNO_LIST): device code
# naming anything else fails on a board, and so it does here in esp32 mode.
MICROPYTHON_NAMES = (
    "EPERM", "ENOENT", "EIO", "EBADF", "EAGAIN", "ENOMEM", "EACCES", "EEXIST", "ENODEV", "EISDIR", "EINVAL",
    "EOPNOTSUPP", "EADDRINUSE", "ECONNABORTED", "ECONNRESET", "ENOBUFS", "ENOTCONN", "ETIMEDOUT",
    "ECONNREFUSED", "EHOSTUNREACH", "EALREADY", "EINPROGRESS",
)

# Linux number -> ESP32 number, by name.
LINUX_TO_ESP32 = {}
for _name, _n in NEWLIB:
    if hasattr(_linux, _name):
        LINUX_TO_ESP32.setdefault(getattr(_linux, _name), _n)


def _esp32_module():
    numbers = dict(NEWLIB)
    m = types.ModuleType("errno", "ESP32's errno as MicroPython has it (host_tests/support/shim/errnos.py)")
    for name in MICROPYTHON_NAMES:
        setattr(m, name, numbers[name])
    m.errorcode = {numbers[name]: name for name in MICROPYTHON_NAMES}
    return m


device = _esp32_module() if ESP32 else _linux  # the `errno` device code sees


class DeviceOSError(builtins.OSError):
    """An OSError carrying a device number (esp32 mode). A subclass, so that CPython does not
    read the number as Linux's and make it a TimeoutError, BlockingIOError ... (116 is ESTALE
    there), and so that it is never translated twice."""


def error(name):
    """The OSError a shim socket raises itself: the device's number for name, the name as message."""
    if ESP32:
        return DeviceOSError(getattr(device, name), name)
    return OSError(getattr(_linux, name), name)


def to_device(e):
    """e as device code would see it: with esp32 on, the ESP32 number of its Linux number's name.
    What carries no errno (a timeout of CPython's with none, a resolver's EAI_* code, a TLS
    library's code) is left as it is; so is a number newlib has no name for."""
    if (not ESP32 or isinstance(e, (DeviceOSError, _ssl.SSLError, _socket.gaierror, _socket.herror))
            or not isinstance(e.errno, int)):
        return e
    n = LINUX_TO_ESP32.get(e.errno)
    if n is None:
        return e
    return DeviceOSError(n, e.strerror) if e.strerror is not None else DeviceOSError(n)


def translating(f):
    """f, raising every OSError as to_device() has it (a no-op unless esp32 is on)."""
    if not ESP32:
        return f

    def call(*args, **kwargs):
        try:
            return f(*args, **kwargs)
        except OSError as e:
            t = to_device(e)
            if t is e:
                raise
            raise t from e

    call.__name__, call.__qualname__, call.__doc__ = f.__name__, f.__qualname__, f.__doc__
    return call


# --- device code's `import errno` ------------------------------------------------------------
_DEVICE_PACKAGES = ("emitter_micro", "umqtt")
_DEVICE_FILES = ()  # set by install_import(): files and folders whose `import errno` is device code's
_real_import = builtins.__import__


def is_device(globals_):
    """Whether the module whose globals these are is device code."""
    name = globals_.get("__name__") or ""
    if name.split(".", 1)[0] in _DEVICE_PACKAGES:
        return True
    f = globals_.get("__file__")
    return bool(f) and os.path.abspath(f).startswith(_DEVICE_FILES)


def _import(name, globals=None, locals=None, fromlist=(), level=0):
    if name == "errno" and level == 0 and globals is not None and is_device(globals):
        return device
    return _real_import(name, globals, locals, fromlist, level)


def install_import(device_files):
    """esp32 mode: `import errno` (and `from errno import ...`) in device code gives `device`.
    device_files: paths of modules, or folders ending in os.sep, that are device code besides
    the emitter_micro and umqtt packages."""
    global _DEVICE_FILES
    paths = [str(p) for p in device_files]
    _DEVICE_FILES = tuple(os.path.abspath(p) + (os.sep if p.endswith(os.sep) else "") for p in paths)
    if ESP32 and builtins.__import__ is not _import:
        builtins.__import__ = _import
