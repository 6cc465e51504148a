"""`make bench`, the 32-bit builds side by side (bench/run.py calls it): frozen32 (Linux's sockets) and
lwip32 (the Pico W's socket: extmod/modlwip.c on lwIP 2.2.1 with rp2's lwipopts, over a TAP device in
tools/netns.py's namespace), emitter_micro and umqtt.simple 1.8 frozen in both. bench/device.py runs
from .mpy alone in its folder (MICROPYPATH=.frozen:<that folder>): every run checks that emitter_micro
and umqtt.simple came from the firmware. Same broker, same limit.flushRate 1000, same rounds as the rest.

lwIP's own memory is not in these figures nor in the heap table: a fixed MEM_SIZE heap (8,000 B), pools
of pbufs, PCBs and segments, all static on a board. Each lwip32 run reports lwiptap.stats() at its end
(the most each held while it ran), printed under the table.
"""
import shutil
import textwrap

import runtimes

BUILDS = [(runtimes.FROZEN32, "frozen32"), (runtimes.LWIP32, "lwip32")]
# (payload bytes, messages per timed round, messages in the allocation round): bench/rx.py's sizes.
RX = [(32, 2000, 500), (1024, 500, 200)]
# What lwIP has (firmware/lwip/lwipopts.h: rp2's, MicroPython's lwipopts_common.h, lwIP's opt.h defaults).
LWIP_SIZES = [("MEM_SIZE heap", None, 8000), ("TCP_PCB", "TCP_PCB", 5), ("TCP_SEG", "TCP_SEG", 32),
              ("PBUF_POOL", "PBUF_POOL", 16), ("PBUF", "PBUF", 16)]
LWIP_NOTE = ("lwIP's own memory sits outside the MicroPython heap (none of these figures, nor the heap table, "
             "count it): the MEM_SIZE heap of 8,000 B, 16 pool pbufs of TCP_MSS 800 + headers (~0.9 KB; a full "
             "frame takes two), 5 TCP PCBs, 32 TCP segments, 16 PBUF_REF/ROM headers: ~26.7 KB of RAM on a "
             "Pico W (lwipopts_common.h), fixed at build time. TCP_WND = TCP_SND_BUF = 6,400 B.")


def measure(bench, build, broker, key):
    """{runtime: {heap, publish_qos0, publish_qos1, receive: {size: {who: ...}}, rtt}} or {"failed": why}."""
    alone = build / "device_only"  # device.mpy and nothing else: the firmware's modules or none
    alone.mkdir(exist_ok=True)
    shutil.copy(str(build / "device.mpy"), str(alone / "device.mpy"))
    out = {}
    for runtime, _ in BUILDS:
        try:
            dev = bench.Device(alone, None, broker, key, runtime=runtime)
        except Exception as e:  # runtimes.Unavailable (no namespace: not root) or a failed build
            out[runtime] = {"failed": str(e).strip()[-600:]}
            continue
        r = out[runtime] = {"binary": dev.exe, "heap": dev.run("heap")}
        r["publish_qos0"] = dev.run("publish", 0, bench.N_QOS0, bench.ROUNDS, bench.N_ALLOC_PUB, 200)
        r["publish_qos1"] = dev.run("publish", 1, bench.N_QOS1, bench.ROUNDS, bench.N_ALLOC_QOS1, bench.PAUSE_MS)
        publisher = bench.Publisher(broker.host, broker.port, key)
        try:
            # lwIP's window holds 6,400 B: the fill cannot finish before the device reads, so it is not waited for.
            wait = bench.FLUSH_WAIT_S if runtime == runtimes.LWIP32 else 10
            r["receive"] = {str(size): {who: bench.device_receive(dev, publisher, who, size, n, n_alloc, wait)
                                        for who in (bench.EM, bench.RAW)} for size, n, n_alloc in RX}
        finally:
            publisher.close()
        r["rtt"] = dev.run("rtt", bench.N_RTT, bench.ROUNDS, bench.PAUSE_MS)
    return out


def rows(bench, m, heap_table):
    """[{metric, unit, peer, figures: {runtime: {column: figure}}}]: each metric on both builds."""
    EM, RAW = bench.EM, bench.RAW
    out = []

    def add(metric, unit, per_build):
        figs = {}
        for runtime, _ in BUILDS:
            r = m.get(runtime, {})
            figs[runtime] = per_build(r) if "failed" not in r else \
                {EM: bench._fig(None, r["failed"].splitlines()[-1])}
        out.append((metric, unit, figs))

    for q, n in ((0, bench.N_QOS0), (1, bench.N_QOS1)):
        key = "publish_qos%d" % q
        add("QoS %d publish, %d x 32 B" % (q, n), "msgs/s", lambda r: bench.publish_row(r[key], None))
        add("QoS %d publish, allocated per publish" % q, "bytes",
            lambda r: {who: bench._fig([r[key].get("alloc", {}).get(who)], bench._errors(r[key], who))
                       for who in (EM, RAW)})
    for size, n, n_alloc in RX:
        expected = [n] * bench.ROUNDS + [n_alloc]

        def why(x):
            return bench._errors(x) or (None if x.get("received") == expected
                                        else "received %s of %s" % (x.get("received"), expected))
        add("receive, %d x %s waiting" % (n, "1 KB" if size == 1024 else "%d B" % size), "msgs/s",
            lambda r: {who: bench._fig(r["receive"][str(size)][who].get("runs"), why(r["receive"][str(size)][who]))
                       for who in (EM, RAW)})
        add("receive, %s, allocated per message" % ("1 KB" if size == 1024 else "%d B" % size), "bytes",
            lambda r: {who: bench._fig([r["receive"][str(size)][who].get("alloc")], why(r["receive"][str(size)][who]))
                       for who in (EM, RAW)})
    for p in ("p50_us", "p99_us"):
        add("round trip to own subscription, %s" % p[:3], "us", lambda r: bench.rtt_rows(r["rtt"], None, p))
    add("heap after connect() (gc.mem_alloc)", "bytes",
        lambda r: {EM: bench._fig([r["heap"].get("after_connect")], bench._errors(r["heap"]))})
    if "loops" in heap_table:  # the heap table's figures, measured above: repeated here beside each other
        row = {runtimes.FROZEN32: "frozen", runtimes.LWIP32: "lwip"}
        for loop, title in (("pub", "publish-only"), ("rx", "receiving")):
            figs = {runtime: {who: {"value": f["value"], "why": f.get("why"), "runs": [f["value"]]}
                              for who, f in heap_table["loops"][loop][row[runtime]].items() if who != "adds"}
                    for runtime, _ in BUILDS}
            out.append(("telemetry loop, %s: smallest -X heapsize" % title, "bytes", figs))
    for _, _, figs in out:
        for f in figs.values():
            f["ratio"], f["ratio_nodelay"] = bench._ratio(f), bench._ratio(f, bench.RAWND)
        a, b = figs[runtimes.LWIP32].get(EM), figs[runtimes.FROZEN32].get(EM)
        if a and b and a["value"] is not None and b["value"]:
            figs[runtimes.LWIP32]["vs_frozen"] = {"value": a["value"] / b["value"], "runs": None}
    peer = "%s, limit.flushRate %d" % (bench.PEER, bench.FLUSH_RATE)
    return [{"metric": metric, "unit": unit, "peer": peer, "figures": figs} for metric, unit, figs in out]


def pools(m):
    """{run: lwiptap.stats() summary} of every lwip32 run that reported one."""
    r = m.get(runtimes.LWIP32, {})
    runs = [("heap", r.get("heap")), ("QoS 0 publish", r.get("publish_qos0")), ("QoS 1 publish", r.get("publish_qos1"))]
    for size, _, _ in RX:
        for who, x in (r.get("receive") or {}).get(str(size), {}).items():
            runs.append(("receive %s, %s" % ("1 KB" if size == 1024 else "%d B" % size, who), x))
    runs.append(("round trips", r.get("rtt")))
    return {name: x["lwip"] for name, x in runs if x and x.get("lwip")}


COLUMNS = [("emitter_micro", "emitter_micro"), ("umqtt.simple", "umqtt.simple"), ("ratio", "em/umqtt"),
           ("umqtt.simple+nodelay", "umqtt+NODELAY"), ("floor", "floor"), ("vs_frozen", "em lwip/frozen")]


def show(bench, r):
    b = r["builds32"]
    print("[%s, limit.flushRate %d] the 32-bit builds side by side: frozen32 (Linux sockets) and\n"
          "lwip32 (a Pico W's socket: modlwip on lwIP 2.2.1, rp2's lwipopts, over a TAP device in the bench's\n"
          "network namespace); emitter_micro and umqtt.simple 1.8 frozen in both (checked on every run),\n"
          "bench/device.py from .mpy alone in its folder" % (r["peer"], bench.FLUSH_RATE))
    table = b["rows"]
    width = 12
    print("  %-*s" % (width, "") + "".join("%15s" % t for _, t in COLUMNS))
    failures = {}  # (build, column, why): [metric]; a build that cannot run fails every row for one reason
    for row in table:
        metric, figs = row["metric"], row["figures"]
        print("  %s (%s)" % (metric, row["unit"]))
        for runtime, label in BUILDS:
            cells = []
            for c, _ in COLUMNS:
                f = figs[runtime].get(c)
                cells.append(bench._cell(f, c in ("ratio", "vs_frozen")))
                if f and f.get("why"):
                    failures.setdefault((label, c, f["why"]), []).append(metric)
            print("    %-*s" % (width - 2, label) + "".join("%15s" % x for x in cells))
    for (label, c, why), metrics in failures.items():
        print("  FAILED %s, %s, %s: %s" % (label, c, "; ".join(metrics) if len(metrics) < 3
                                           else "%d rows" % len(metrics), why))
    for runtime, label in BUILDS:
        w = b["raw"].get(runtime, {}).get("receive")
        if w:
            held = ["%s B %d of %d" % (size, sum(map(bool, flags)), len(flags)) for size, per in w.items()
                    for flags in [[f for x in per.values() for f in x.get("all_waiting_before_drain", [])]]]
            print("  %s receive: rounds in which the broker had taken every message (the publisher's last one\n"
                  "  acked) before the drain began: %s" % (label, ", ".join(held)))
            if runtime == runtimes.LWIP32:
                print("  (lwIP's receive window holds 6,400 B: what it cannot take waits on the broker's side, sent\n"
                      "  as the drain reads)")
    print("  umqtt+NODELAY: raw umqtt.simple with TCP_NODELAY set by the port's numbers (on lwip32: lwIP's\n"
          "  TF_NODELAY). emitter_micro leaves it off on modlwip on purpose (micropython#19704: small writes\n"
          "  fill lwIP's 32-segment queue and a write stalls 10 s): there a packet written in two writes waits\n"
          "  for the broker's delayed ACK (~40 ms) before its second part goes out.\n"
          "  lwip32 polls lwIP at most every ms (firmware/lwip/lwiptap.c): its round trips show that tick.")
    print("  " + "\n  ".join(textwrap.wrap(b["lwip_note"], 100)))
    st = b["lwip_pools"]
    if not st:
        print("  lwiptap.stats(): no lwip32 run reported it")
        return
    print("  lwIP on lwip32, lwiptap.stats() at the end of each device run: the most held / what there is"
          " (failed allocations)")
    names = [n for n, _, _ in LWIP_SIZES]
    print("    %-30s" % "device run (all its clients)" + "".join("%16s" % n for n in names))
    for run, s in st.items():
        cells = []
        for _, pool, size in LWIP_SIZES:
            most, err = (s["mem_max"], s["mem_err"]) if pool is None else (s["pools"][pool][1], s["pools"][pool][2])
            cells.append("%s/%s%s" % ("{:,}".format(most), "{:,}".format(size), " (%d)" % err if err else ""))
        print("    %-30s" % run + "".join("%16s" % c for c in cells))

