"""The store's kill tests (issue 18): the device process SIGKILLed and started again on the same store.

The device (store/bs_store.py device_kill) publishes readings {"seq": n} at QoS 1 through a
Toxiproxy proxy in front of the real broker, with its store on littlefs v2 on a file-backed block device
(store/blockfile.py): the file outlives the process as a board's flash outlives a power cut.
Each case kills it at one point, starts it again on the same file, and a CPython subscriber on the broker
counts: 0 readings lost in every case, and duplicates only of the reading sent before the kill and not
yet acknowledged (printed). Kill points: during an outage with 50 readings queued; mid-write of a record
(the chip stops at its Nth write from that publish on, with 0..all bytes of that write made: the kill
points spread over the record's write and the one that empties it after the PUBACK); after the record's
write and before the send; after the send and before the PUBACK (a Toxiproxy toxic holds it). Then 20
kill/restart cycles in a row during a long outage, the chip stopped at random writes: nothing lost but
the oldest, dropped by the bound and reported, and the store within its bound at every boot.

Both clients; the sync one under the unix port with each umqtt version and the frozen 32-bit build, the
asyncio one (no umqtt) under the unix port and the frozen build.
"""
import random
import time
import uuid
from collections import Counter

import pytest

import runtimes
from broker_harness import Device, Subscriber

pytest_plugins = ["toxiproxy"]

KILL = [("sync", "134"), ("sync", "18"), ("sync", runtimes.FROZEN32), ("aio", "18"), ("aio", runtimes.FROZEN32)]
KILL_IDS = ["%s-%s" % (c, runtimes.runtime_id(r)) for c, r in KILL]
WAIT_S = 30


@pytest.fixture(scope="module")
def devices_key(broker):
    return broker.keygen("devices/#/", "rwslp")


class Boots:
    """The boots of one device on one flash file, and a subscriber counting its readings."""

    def __init__(self, broker, proxy, key, tmp_path, client, runtime, room=16384, blocks=64):
        self.proxy, self.runtime = proxy, runtime
        self.channel = "devices/%s/telemetry/" % uuid.uuid4().hex[:8]
        self.sub = Subscriber(broker.host, broker.port, key, self.channel).start()
        assert self.sub.wait_connected(10), "the subscriber did not connect"
        self.base = {"host": proxy.host, "proxy_port": proxy.port, "key": key, "channel": self.channel,
                     "flash": str(tmp_path / ("flash-%s.bin" % uuid.uuid4().hex[:6])), "blocks": blocks,
                     "room": room, "interval_ms": 10, "aio": client == "aio", "flush_ms": 20000,
                     "toxiproxy_host": proxy.server.host, "toxiproxy_port": proxy.server.api_port,
                     "proxy_name": proxy.name}
        self.dev = None
        self.running_boot = False
        self.logs = []  # the output of every boot
        self.boots = []  # the lines of every boot

    def enabled(self, on):
        """The proxy open (the broker reachable) or closed (refused, live connections cut)."""
        self.proxy.server.request("POST", "/proxies/%s" % self.proxy.name, {"enabled": on})

    def boot(self, **env):
        self.dev = Device("bs_store", "device_kill", dict(self.base, **env), self.runtime)
        self.running_boot = True
        return self.dev

    def lines(self):
        return [line for _, line in self.dev.lines]

    def until(self, pred, what, timeout=WAIT_S):
        end = time.monotonic() + timeout
        while not any(pred(line) for line in self.lines()):
            if not self.dev.running():
                time.sleep(0.2)
                if any(pred(line) for line in self.lines()):
                    return
                pytest.fail("the device ended before %s:\n%s" % (what, self.report()), pytrace=False)
            if time.monotonic() > end:
                self.dev.stop()
                pytest.fail("no %s within %d s:\n%s" % (what, timeout, self.report()), pytrace=False)
            time.sleep(0.01)

    def kill(self):
        """SIGKILL (our own child, by its PID)."""
        self.dev.stop()
        self.dev._reader.join(5)
        self._done()

    def final(self, **env):
        dev = self.boot(final=True, **env)
        ok = dev.wait(120)
        self._done()
        assert ok, self.report()

    def _done(self):
        self.running_boot = False
        self.boots.append(self.lines())
        self.logs.append(self.dev.report())

    def report(self):
        """The output of every boot, the one running now included."""
        now = [self.dev.report()] if self.running_boot else []
        return "\n=== next boot ===\n".join(self.logs + now)

    def seqs(self, prefix):
        """The seqs of lines `prefix n` over every boot so far."""
        return [int(line.split()[1]) for lines in self.boots for line in lines if line.startswith(prefix + " ")]

    def boot_line(self, i):
        line = [x for x in self.boots[i] if x.startswith("BOOT ")][0].split()
        return dict(zip(line[1::2], map(int, line[2::2])))

    def count(self, must, maybe=(), dup_ok=()):
        """Wait for the readings of must; check none lost, nothing unexpected, duplicates only of dup_ok."""
        must = set(must)
        self.sub.wait(lambda: must <= set(self.sub.seqs), 20)
        time.sleep(0.5)  # a duplicate may still be on its way
        seqs = list(self.sub.seqs)
        lost = sorted(must - set(seqs))
        extra = sorted(set(seqs) - must - set(maybe))
        dups = {s: n - 1 for s, n in Counter(seqs).items() if n > 1}
        assert not lost, "lost %s\n%s" % (lost, self.report())
        assert not extra, "unexpected %s\n%s" % (extra, self.report())
        assert set(dups) <= set(dup_ok), "duplicates %s, allowed only of %s\n%s" % (dups, sorted(dup_ok),
                                                                                   self.report())
        return dups

    def stop(self):
        if self.dev is not None:
            self.dev.stop()
        self.sub.stop()


@pytest.fixture
def boots(broker, toxi_proxy, devices_key, tmp_path):
    made = []

    def make(client, runtime, **kw):
        b = Boots(broker, toxi_proxy, devices_key, tmp_path, client, runtime, **kw)
        made.append(b)
        return b
    yield make
    for b in made:
        b.stop()


@pytest.mark.parametrize("client,runtime", KILL, ids=KILL_IDS)
def test_kill_during_an_outage_with_50_queued(micropython, boots, client, runtime):
    b = boots(client, runtime)
    b.enabled(False)
    b.boot(first=1, count=50)
    b.until(lambda line: line == "OK 50", "50 readings queued")
    b.kill()
    b.enabled(True)
    b.final(first=51, count=5)
    assert b.boot_line(1)["pending"] == 50, b.report()
    dups = b.count(range(1, 56))
    print("%s %s: killed with 50 queued: 0 lost of 55, %d duplicates" % (client, runtime, sum(dups.values())))


def _writes(lines, seq):
    """The chip's writes (kind, bytes) between `PUB seq` and `OK seq`."""
    i, j = lines.index("PUB %d" % seq), lines.index("OK %d" % seq)
    return [(x.split()[2], int(x.split()[3])) for x in lines[i:j] if x.startswith("BLK ")]


@pytest.mark.parametrize("client,runtime", KILL, ids=KILL_IDS)
def test_kill_mid_write_of_a_record(micropython, boots, client, runtime):
    """Reading 5 online: the chip stops at each of its writes from the publish to its return (the record's,
    then the one that empties it after the PUBACK), with 0, 1, 1/4, 1/2, 3/4, all but one or all bytes of the
    record's write made (0 or half of the later ones): the process is killed there, started again on the same chip."""
    k = 5
    cal = boots(client, runtime)
    cal.final(first=1, count=k, arm=k)  # where the writes of reading k fall (the same on every fresh chip)
    writes = _writes(cal.boots[0], k)
    assert writes and writes[0][0] == "W", cal.report()
    size = writes[0][1]
    points = [(1, c) for c in sorted({0, 1, size // 4, size // 2, 3 * size // 4, size - 1, size})]
    points += [(n, c) for n in range(2, len(writes) + 1) for c in (0, writes[n - 1][1] // 2)]
    results = []
    for hold, cut in points:
        b = boots(client, runtime)
        b.boot(first=1, count=k, arm=k, hold=hold, cut=cut)
        b.until(lambda line: line.startswith("HOLD"), "the chip's hold at write %d" % hold)
        b.kill()
        b.final(first=k + 1, count=3)
        dups = b.count(list(range(1, k)) + list(range(k + 1, k + 4)), maybe=[k], dup_ok=[k])
        results.append("write %d (%s %d B) cut at %d B: reading %d %s, pending at boot %d, %d duplicates"
                       % (hold, writes[hold - 1][0], writes[hold - 1][1], cut, k,
                          "delivered" if k in b.sub.seqs else "never made (publish did not return)",
                          b.boot_line(1)["pending"], sum(dups.values())))
        b.stop()
    print("%s %s: the writes of reading %d: %s; 0 lost at every kill point:\n  %s"
          % (client, runtime, k, writes, "\n  ".join(results)))


@pytest.mark.parametrize("client,runtime", KILL, ids=KILL_IDS)
def test_kill_after_the_write_before_the_send(micropython, boots, client, runtime):
    b = boots(client, runtime)
    b.boot(first=1, count=3, stored_hold=3)
    b.until(lambda line: line == "HOLD", "the hold after reading 3 was stored")
    time.sleep(0.3)
    assert 3 not in b.sub.seqs, "reading 3 sent before the kill"
    b.kill()
    b.final(first=4, count=2)
    assert b.boot_line(1)["pending"] == 1, b.report()
    dups = b.count(range(1, 6))
    assert not dups
    print("%s %s: killed after the write, before the send: 0 lost, %d duplicates"
          % (client, runtime, sum(dups.values())))


@pytest.mark.parametrize("client,runtime", KILL, ids=KILL_IDS)
def test_kill_after_the_send_before_the_puback(micropython, boots, client, runtime):
    b = boots(client, runtime)
    b.boot(first=1, count=3, toxic_at=3)
    b.until(lambda line: line == "PUB 3", "reading 3 sent")
    assert b.sub.wait(lambda: 3 in b.sub.seqs, 10), "reading 3 never reached the broker\n" + b.report()
    assert "OK 3" not in b.lines(), "acknowledged through the toxic?\n" + b.report()
    b.kill()
    b.proxy.clear()
    b.final(first=4, count=2)
    assert b.boot_line(1)["pending"] == 1, b.report()
    dups = b.count(range(1, 6), dup_ok=[3])
    assert dups == {3: 1}, dups  # sent before the kill, not acknowledged: sent again after it
    print("%s %s: killed after the send, before the PUBACK: 0 lost, %d duplicate (reading 3, sent and not "
          "acknowledged)" % (client, runtime, sum(dups.values())))


CYCLES = [("sync", runtimes.FROZEN32), ("aio", "18")]


@pytest.mark.parametrize("client,runtime", CYCLES, ids=["%s-%s" % (c, runtimes.runtime_id(r)) for c, r in CYCLES])
def test_twenty_kill_restart_cycles_in_a_long_outage(micropython, boots, client, runtime):
    """The broker unreachable all along; each boot publishes readings until the chip stops at a random write
    (a random part of it made) and the process is killed: 20 times, then the broker is back. Every reading
    is delivered but the oldest, dropped by the bound (and reported); the store is within it at every boot."""
    room = 6000  # about 70 records of these readings: reached after some 10 boots
    rnd = random.Random(18)
    b = boots(client, runtime, room=room)
    b.enabled(False)
    first = 1
    for cycle in range(20):
        b.boot(first=first, count=100000, interval_ms=5, arm=first, hold=rnd.randint(5, 60),
               cut=rnd.randint(0, 160))
        b.until(lambda line: line.startswith("HOLD"), "the hold of cycle %d" % cycle)
        b.kill()
        first = max(b.seqs("PUB")) + 1
    b.enabled(True)
    b.final(first=first, count=1)
    published = set(b.seqs("OK"))  # their publish returned: the device holds them
    cut_short = set(b.seqs("PUB")) - published  # in progress at a kill: kept or not
    told = sum(1 for lines in b.boots for line in lines if "full: dropped the oldest" in line)
    for i in range(len(b.boots)):
        boot = b.boot_line(i)
        assert boot["size"] <= room, (i, boot)
        assert boot["files"] <= boot["pending"] + 9, (i, boot)  # records, 8 spare slots, the marker
    b.sub.wait(lambda: first in b.sub.seqs, 20)
    time.sleep(0.5)
    got = set(b.sub.seqs)
    missing = sorted(published - got)
    assert not got - published - cut_short, sorted(got - published - cut_short)
    # Only the oldest are missing (the bound drops oldest first), as many as were dropped (a drop whose
    # report the kill cut short included).
    assert not missing or max(missing) < min(got), (missing, sorted(got))
    gone = (published | cut_short) - got  # a reading cut short whose record landed may be dropped later too
    assert told <= len(gone) and len(missing) <= told + 20, (len(missing), len(gone), told)
    dups = len(b.sub.seqs) - len(got)
    assert dups == 0, dups  # nothing was sent before a kill
    sizes = [b.boot_line(i)["size"] for i in range(len(b.boots))]
    # Kills while littlefs compacted a metadata block (an erase since the last reading's publish returned).
    mid = 0
    for lines in b.boots[:-1]:
        last = max(i for i, line in enumerate(lines) if line.startswith("PUB "))
        mid += any(line.startswith("BLK ") and " E " in line for line in lines[last:])
    print("%s %s: 20 kill/restart cycles in an outage: %d readings published, %d of them dropped by the bound "
          "(the oldest; %d drops reported), the other %d delivered, 0 lost, %d duplicates; of the 20 cut short by a "
          "kill %d delivered; %d kills during a littlefs compaction; store bytes at each boot %s (room %d)"
          % (client, runtime, len(published), len(missing), told, len(published & got), dups, len(cut_short & got),
             mid, sizes, room))
