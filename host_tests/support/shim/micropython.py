"""CPython stand-in for MicroPython's `micropython` module (host tests only)."""


def const(x):
    return x


def native(f):
    return f


def viper(f):
    return f


def asm_thumb(f):
    return f


def mem_info(*args):
    pass


def qstr_info(*args):
    pass


def opt_level(*args):
    return 0 if not args else None


def stack_use():
    return 0


def alloc_emergency_exception_buf(size):
    pass


def heap_lock():
    return 0


def heap_unlock():
    return 0


def kbd_intr(ch):
    pass


def schedule(func, arg):
    func(arg)
