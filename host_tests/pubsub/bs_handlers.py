"""Handlers and ack waits against the real Emitter broker: a handler that raises, messages that
arrive while a call waits for its ack or answer, and what a handler may do meanwhile.

The broker writes a connection's packets in the order it handled them: the stored messages a
subscription replays come before its SUBACK, and the echo of a publish before the answer to a
request made after it. Those are the waits these cases put traffic into.
Run by host_tests/pubsub/test_pubsub_broker.py on both runtimes, per umqtt version.
"""
import emitter_micro
from bs_util import as_env, client, close, payloads, settle, uid, wait_for


def case_handler_exception_reported_not_raised(env):
    env = as_env(env)
    k = env.keys["test"]
    ch = "test/%s/boom/" % uid(env, "r")
    errors, calls = [], []
    em = client(env, {"error": errors.append})

    def bad(m):
        calls.append(m.binary)
        raise RuntimeError("boom")
    em.subscribe(k, ch, handler=bad)
    em.publish(k, ch, "1")
    em.publish(k, ch, "2", qos=1)
    wait_for(em, lambda: len(calls) >= 2, "both messages at the raising handler")
    assert calls == [b"1", b"2"], calls
    assert len(errors) == 2 and all("boom" in e["message"] for e in errors), errors
    assert em.connected
    assert em.me(timeout_ms=5000)["status"] == 200  # the link still works
    close(em)


def case_messages_dispatched_while_waiting_for_an_answer(env):
    env = as_env(env)
    k = env.keys["test"]
    ch = "test/%s/during/" % uid(env, "r")
    got = []
    em = client(env, {"message": got.append})
    em.subscribe(k, ch)
    em.publish(k, ch, "during")  # its echo is written to us before the answer to the request below
    ans = em.me(timeout_ms=5000)
    assert ans["status"] == 200 and payloads(got) == [b"during"], (ans, payloads(got))
    close(em)


def case_qos1_publish_from_a_handler_during_subscribe(env):
    # A stored command replays before the SUBACK; the handler answers it at QoS 1. That publish
    # cannot wait for its PUBACK there (it would read the SUBACK): it waits in the queue instead.
    env = as_env(env)
    k = env.keys["test"]
    cmd = "test/%s/cmd/" % uid(env, "r")
    reply = "test/%s/reply/" % uid(env, "r")
    pub = client(env)
    pub.publish(k, cmd, "ping", ttl=120, qos=1)
    replies = []
    watcher = client(env)
    watcher.subscribe(k, reply, handler=replies.append)
    dev = client(env)
    dev.subscribe(k, cmd, handler=lambda m: dev.publish(k, reply, "pong", qos=1))
    assert dev.connected and dev.pending() == 1  # the handler ran during the SUBACK wait
    dev.loop()  # sends what the handler queued
    assert dev.pending() == 0 and dev._queue is None, dev.pending()
    dev.publish(k, reply, "direct", qos=1)  # the direct path again, not the queue
    assert dev.pending() == 0 and dev._queue is None
    wait_for([watcher, dev, pub], lambda: len(replies) >= 2, "the reply and the direct publish")
    settle([watcher, dev], 200)
    assert payloads(replies) == [b"pong", b"direct"], payloads(replies)
    close(pub, watcher, dev)


def case_waiting_calls_from_a_handler_during_an_ack_wait_are_refused(env):
    env = as_env(env)
    k = env.keys["test"]
    cmd = "test/%s/cmd/" % uid(env, "r")
    pub = client(env)
    pub.publish(k, cmd, "a", ttl=120, qos=1)
    pub.publish(k, cmd, "b", ttl=120, qos=1)
    errors = []
    em = client(env, {"error": errors.append})
    calls = [lambda: em.subscribe(k, "test/%s/other/" % uid(env, "r")), lambda: em.me(timeout_ms=100)]
    seen = []

    def handler(m):
        seen.append(m.binary)
        calls.pop(0)()
    em.subscribe(k, cmd, last=2, handler=handler)  # both replay before the SUBACK
    assert sorted(seen) == [b"a", b"b"] and em.connected, seen
    assert len(errors) == 2, errors
    assert all("RuntimeError" in e["message"] and "ack is awaited" in e["message"] for e in errors), errors
    # Once out of the wait, the same calls work.
    em.subscribe(k, "test/%s/other/" % uid(env, "r"))
    assert em.me(timeout_ms=5000)["status"] == 200
    close(pub, em)


def case_held_events_wait_without_allocating(env):
    """An event with no handler yet is held for the next loop() after one is registered; meanwhile an
    idle loop() leaves it as it is and (MicroPython, where gc.mem_alloc tells) allocates nothing for it."""
    import gc
    env = as_env(env)
    em = client(env)  # no handlers: the first 'connect' is held
    for _ in range(10):
        em.loop(0)
    if hasattr(gc, "mem_alloc"):
        gc.collect()
        before = gc.mem_alloc()
        gc.disable()
        try:
            for _ in range(100):
                em.loop(0)
            used = gc.mem_alloc() - before
        finally:
            gc.enable()
        assert used < 100, "100 idle loop() calls allocated %d bytes" % used  # was 96 B per call
    seen = []
    em.on("connect", lambda: seen.append(1))
    em.loop(0)
    assert seen == [1], seen
    close(em)
