"""Options, defaults and inputs: what emitter_micro refuses before anything is sent, shown against
the real Emitter broker (nothing refused reaches it: the broker would have answered a bad topic
with an error, and a watching subscriber gets only what was meant to go).

Run by host_tests/pubsub/test_pubsub_broker.py like bs_api.py: in-process under CPython (shim sockets)
and under the MicroPython unix port (run_case.py), per umqtt version.
"""
import emitter_micro
from bs_util import as_env, client, close, options, payloads, raises, settle, uid, wait_for


def case_defaults_and_bad_options(env):
    env = as_env(env)
    em = emitter_micro.Emitter({"verify": False})
    assert em.hosts == ["api.emitter.io"] and em.port == 443 and em.keepalive == 30 and em.secure
    assert em.reconnect and not em.connected and em.pending() == 0 and em.dropped == 0
    assert emitter_micro.Emitter({"secure": False}).port == 8080
    a = emitter_micro.Emitter({"secure": False}).client_id
    b = emitter_micro.Emitter({"secure": False}).client_id
    assert a != b and len(a) > 8, (a, b)
    raises(ValueError, emitter_micro.Emitter, options(env, keepalive=120))  # the broker's idle limit
    raises(ValueError, emitter_micro.Emitter, options(env, keepalive=0))
    raises(ValueError, emitter_micro.Emitter, options(env, timeout=0))
    e = raises(ValueError, emitter_micro.Emitter, {"hots": env.host})
    assert "hots" in str(e), e
    bad_will = {"key": env.keys["test"], "channel": "test/a/+/", "message": "x"}
    raises(ValueError, emitter_micro.Emitter, options(env, will=bad_will))
    # The host and port given are the ones used: a client with only those connects.
    em = emitter_micro.Emitter({"host": env.host, "port": env.port, "secure": False}).connect()
    assert em.connected and em.keepalive == 30 and em.timeout == 10
    raises(ValueError, em.on, "mesage", print)
    assert em.me(timeout_ms=5000)["status"] == 200
    close(em)


def case_bad_input_refused_before_sending(env):
    env = as_env(env)
    k = env.keys["test"]
    base = "test/%s/" % uid(env, "in")
    errors, seen = [], []
    em = client(env, {"error": errors.append})
    watcher = client(env)
    watcher.subscribe(k, base, handler=seen.append)  # every channel below base
    levels = base + "/".join(["l"] * 21)  # 23 levels: the limit
    cases = [
        (ValueError, ("", base, "x")),
        (ValueError, ("ab/cd", base, "x")),
        (TypeError, (None, base, "x")),
        (ValueError, (k, base + "+/", "x")),
        (ValueError, (k, base + "#/", "x")),
        (ValueError, (k, base + "a b/", "x")),
        (ValueError, (k, base + "caf\u00e9/", "x")),
        (ValueError, (k, base + "/b/", "x")),
        (ValueError, (k, "", "x")),
        (ValueError, (k, levels + "/l", "x")),
        (ValueError, (k, base + "a?ttl=3/", "x")),
        (ValueError, (k, base, b"x" * 65536)),
        (TypeError, (k, base, 42)),
        (TypeError, (k, base, None)),
    ]
    for exc, args in cases:
        e = raises(exc, em.publish, *args)
        assert str(e), args
    raises(ValueError, em.publish, k, base, "x", ttl=-1)
    raises(ValueError, em.publish, k, base, "x", qos=2)
    raises(ValueError, em.publish, k, base, "x", qos=None)
    raises(ValueError, em.subscribe, k, base + "#/")
    raises(ValueError, em.subscribe, "", base)
    raises(ValueError, em.keygen, k, base, "rz")
    raises(ValueError, em.publish_with_link, "abc", "x")
    raises(ValueError, em.publish_with_link, "a/", "x")
    # A key is a secret: a refusal shows its first 4 characters only, and repr() none of it.
    e = raises(ValueError, em.publish, k + "!", base, "x")
    assert k not in str(e) and k[:4] in str(e), e
    assert k not in repr(em)
    # What is valid goes through, the 23-level channel included.
    em.publish(k, levels, "deep", qos=1)
    em.publish(k, base, "ok", qos=1)
    wait_for([em, watcher], lambda: len(seen) >= 2, "the two valid publishes")
    settle([em, watcher], 300)
    assert sorted(payloads(seen)) == [b"deep", b"ok"], payloads(seen)
    assert [m.channel for m in seen if m.binary == b"deep"] == [levels + "/"], [m.channel for m in seen]
    assert errors == [], errors  # the broker was asked nothing it refused
    assert em.connected
    close(em, watcher)


def case_largest_publish_accepted(env):
    env = as_env(env)
    k = env.keys["test"]
    ch = "test/%s/big/" % uid(env, "r")
    errors, got = [], []
    em = client(env, {"error": errors.append})
    em.subscribe(k, ch, handler=got.append)
    t = (k + "/" + ch).encode()
    body = b"y" * (65536 - 2 - len(t))  # topic length, topic, payload: 65,536 bytes, the broker's limit
    raises(ValueError, em.publish, k, ch, body + b"y")
    raises(ValueError, em.publish, k, ch, body, qos=1)  # the packet id takes 2 more
    em.publish(k, ch, body)
    wait_for(em, lambda: got, "the largest publish back from the broker")
    assert got[0].binary == body and errors == [] and em.connected, (len(got[0].binary), errors)
    close(em)


def case_long_channel_subscribe_and_unsubscribe(env):
    """A topic over 127 bytes takes a two-byte remaining length in SUBSCRIBE and UNSUBSCRIBE
    (umqtt.simple 1.3.4 writes one): the broker takes both."""
    env = as_env(env)
    k = env.keys["test"]
    ch = "test/%s/" % uid(env, "long") + "/".join(["level%02d" % i for i in range(21)]) + "/"
    assert len(k) + 1 + len(ch) > 127, len(ch)
    got = []
    em = client(env)
    em.subscribe(k, ch, handler=got.append)
    em.publish(k, ch, "deep", qos=1)
    wait_for(em, lambda: got, "a message on the long channel")
    em.unsubscribe(k, ch)
    em.publish(k, ch, "after", qos=1)
    settle(em, 300)
    assert payloads(got) == [b"deep"] and got[0].channel == ch, (payloads(got), got[0].channel)
    close(em)
