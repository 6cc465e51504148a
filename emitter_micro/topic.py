"""Emitter channels and topics: validation and building, before anything is sent."""
from micropython import const

_MAX_LEVELS = const(23)
# The broker resets the connection, silently, on a packet whose remaining length is larger.
MAX_PACKET = const(65536)
PUBLISH = const(0)
SUBSCRIBE = const(1)
KEYGEN = const(2)


def _check(text, what, allowed, shown):
    for c in text:
        o = ord(c)
        if not (45 <= o <= 58 or 65 <= o <= 122 or c in allowed):
            raise ValueError("%s %r: %r not allowed" % (what, shown, c))


def key(k):
    """Validate a channel key."""
    if not isinstance(k, str):
        raise TypeError("key must be str")
    if not k or "/" in k:
        raise ValueError("key must be non-empty, without '/'")
    # A key is a secret: errors show its first 4 characters only.
    _check(k, "key", "", k[:4] + "...")
    return k


def channel(name, use=PUBLISH):
    """Return the channel with its trailing '/', or raise naming the fault."""
    if not isinstance(name, str):
        raise TypeError("channel must be str")
    if name[-1:] != "/":
        name += "/"
    if name[0] == "/" or "//" in name:
        raise ValueError("channel has an empty level: %r" % name)
    if name.count("/") > _MAX_LEVELS:
        raise ValueError("channel has more than 23 levels")
    if use == PUBLISH and "+" in name:
        raise ValueError("wildcard in publish channel %r" % name)
    if use != KEYGEN and "#" in name:
        # The broker takes '#' but delivers nothing live on it.
        raise ValueError("'#' receives nothing: subscribe to the parent channel")
    _check(name, "channel", "$+#", name)
    return name


def build(k, chan, opts=""):
    """Return the bytes of the topic KEY/CHANNEL/?opts for a validated key and channel."""
    return (key(k) + "/" + chan + opts).encode()


def options(ttl=None, last=None, me=True, since=None, until=None):
    """Return '?ttl=..&last=..' for the options given, in the broker's names."""
    q = ""
    for name, v in (("ttl", ttl or None), ("last", last), ("me", None if me else 0), ("from", since), ("until", until)):
        if v is not None:
            if not isinstance(v, int) or v < 0:
                raise ValueError("%s must be an int >= 0, not %r" % (name, v))
            q += ("&" if q else "?") + name + "=" + str(v)
    return q
