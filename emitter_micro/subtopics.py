"""The topics of the subscription calls a device may never make: a share group's, and those an unsubscribe
takes. Loaded with the first of those calls (calls.py, aiocalls.py), so a receiving device holds none of it."""
from . import topic as T


def group_topic(key, channel, group):
    """(topic bytes, channel) of a share-group subscription: each message goes to one member. The key is
    for $share/GROUP/CHANNEL/."""
    ch = T.channel(channel, T.SUBSCRIBE)
    if not group or not all(c.isalpha() or c.isdigit() for c in group):
        raise ValueError("share group must be alphanumeric, not %r" % group)
    return T.build(key, "$share/" + group + "/" + ch), ch


def matching(subs, key, channel):
    """The topics of subs (subscriptions.Subscriptions) to unsubscribe for channel, whatever options they
    were subscribed with."""
    base = T.build(key, T.channel(channel, T.SUBSCRIBE))
    return [t for t in subs.table if t == base or t.startswith(base + b"?")] or [base]
