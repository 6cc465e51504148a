"""The test counts per feature folder and runtime (docs/testing.md's table); not a test module.

    .venv/bin/python host_tests/harness/counts.py                     # the table, as markdown
    .venv/bin/python host_tests/harness/counts.py --before FILE      # and check the ids of an older layout

FILE is the output of `pytest host_tests --collect-only -q` on the tree before the tests were sorted
by feature (commit a3e25f0, 826 tests). --before maps every id of it to its place in this layout (the
file moves below; test_real_broker.py's cases to their feature's test_<feature>_broker.py) and checks
that the two sets of ids are the same: no test lost, none added, none doubled.

A test's runtime column comes from its id and fixtures: `lwip32`, `frozen32`, `unix32` in the id; CPython
in-process when the id or the function name says `cpython`, the test uses the `umqtt_env` fixture, or it
is a scenario pytest collects directly (rogue_scenarios/, store_scenarios/); the unix port when the id
says `umqtt134` / `umqtt18` / `unix` / `unix_port` or the test uses the `micropython` fixture (`unix`,
`unix_port` win over `cpython` in the function name or `umqtt_env`; `32bit` / `_lwip_` in the function
name count as unix32 / lwip32); otherwise
host only (tools, manifests, the shim's own checks). A test that loads no umqtt.simple (the store, the
asyncio boards) counts under 1.3.4.
"""
import argparse
import collections
import os
import re
import sys
from pathlib import Path

HOST_TESTS = Path(__file__).resolve().parents[1]
REPO = HOST_TESTS.parent
COLUMNS = ["cpython 1.3.4", "cpython 1.8", "unix 1.3.4", "unix 1.8", "unix32", "frozen32", "lwip32", "host"]

# Where each file of the layout by runtime went (a3e25f0 -> this one).
MOVED = {
    "test_aio.py": "aio/test_aio.py",
    "test_boards.py": "boards/test_boards.py",
    "test_boards_aio.py": "boards/test_boards_aio.py",
    "test_broker.py": "harness/test_broker.py",
    "test_shim.py": "harness/test_shim.py",
    "test_cpython_versions.py": "link_faults/test_rogue_cpython_versions.py",
    "test_unix_port.py": "link_faults/test_rogue_runtimes.py",
    "test_rogue_relay.py": "link_faults/test_rogue_relay.py",
    "test_esp32_errno.py": "link_faults/test_esp32_errno.py",
    "test_link_faults.py": "link_faults/test_link_faults.py",
    "test_lwip_field.py": "link_faults/test_lwip_field.py",
    "test_deploy.py": "firmware/test_deploy.py",
    "test_manifest.py": "firmware/test_manifest.py",
    "test_mpy.py": "firmware/test_mpy.py",
    "test_package.py": "firmware/test_package.py",
    "test_real_broker_resilience.py": "resilience/test_real_broker_resilience.py",
    "test_store.py": "store/test_store.py",
    "test_store_kill.py": "store/test_store_kill.py",
    "test_tls.py": "tls/test_tls.py",
    "rogue_scenarios/": "link_faults/rogue_scenarios/",
    "store_scenarios/": "store/store_scenarios/",
}


class _Recorder:
    def __init__(self):
        self.items = []

    def pytest_collection_finish(self, session):
        for item in session.items:
            spec = getattr(item, "callspec", None)
            self.items.append((item.nodeid, getattr(item, "originalname", item.name),
                               spec.id if spec else "", set(getattr(item, "fixturenames", ()))))


def collect():
    import pytest
    rec = _Recorder()
    os.chdir(REPO)
    code = pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider", "host_tests"], plugins=[rec])
    if code != 0:
        sys.exit("collection failed (pytest exit %s)" % code)
    return rec.items


def column(nodeid, name, param, fixtures):
    tokens = set(param.split("-")) if param else set()
    v18 = "umqtt18" in tokens
    if "lwip32" in tokens or "_lwip_" in name:
        return "lwip32"
    if "frozen32" in tokens:
        return "frozen32"
    if "unix32" in tokens or "32bit" in name:
        return "unix32"
    if tokens & {"unix", "unix_port"}:
        return "unix 1.8" if v18 else "unix 1.3.4"
    if "cpython" in tokens or "cpython" in name or "umqtt_env" in fixtures \
            or "/rogue_scenarios/" in nodeid or "/store_scenarios/" in nodeid:
        return "cpython 1.8" if v18 else "cpython 1.3.4"
    if tokens & {"umqtt134", "umqtt18", "unix", "unix_port"} or "micropython" in fixtures:
        return "unix 1.8" if v18 else "unix 1.3.4"
    return "host"


def feature(nodeid):
    return nodeid.split("/")[1]


def table(items, before=None):
    """The markdown table: one row per feature folder, a column per runtime; with `before` (ids per
    feature in the older layout) a column of those too."""
    counts = collections.defaultdict(collections.Counter)
    for nodeid, name, param, fixtures in items:
        counts[feature(nodeid)][column(nodeid, name, param, fixtures)] += 1
    total = collections.Counter()
    b = [] if before is None else ["before"]
    lines = ["| feature | " + " | ".join(b + COLUMNS) + " | after |", "|---" * (len(b + COLUMNS) + 2) + "|"]
    for feat in sorted(counts):
        c = counts[feat]
        total.update(c)
        first = [] if before is None else [str(before.get(feat, 0))]
        lines.append("| `%s/` | " % feat + " | ".join(first + [str(c[k] or "") for k in COLUMNS])
                     + " | %d |" % sum(c.values()))
    first = [] if before is None else ["**%d**" % sum(before.values())]
    lines.append("| **total** | " + " | ".join(first + ["**%d**" % total[k] for k in COLUMNS])
                 + " | **%d** |" % sum(total.values()))
    return "\n".join(lines), {f: sum(c.values()) for f, c in counts.items()}


def map_old(old_id, case_feature):
    path, _, rest = old_id.partition("::")
    rel = path[len("host_tests/"):]
    if rel == "test_real_broker.py":
        m = re.match(r"test_(cpython|unix_port)\[(?:[a-z0-9]+-)?(bs_\w+)\.", rest)
        if m:
            feat = case_feature[m.group(2)]
            return "host_tests/%s/test_%s_broker.py::%s" % (feat, feat, rest)
        return "host_tests/harness/test_real_broker.py::" + rest
    for old, new in MOVED.items():
        if rel == old or (old.endswith("/") and rel.startswith(old)):
            return "host_tests/" + new + rel[len(old):] + "::" + rest
    raise KeyError("no place for %s" % old_id)


def check_before(before_file, items):
    old = [ln.strip() for ln in Path(before_file).read_text().splitlines() if "::" in ln]
    case_feature = {p.stem: p.parent.name for p in HOST_TESTS.glob("*/bs_*.py")}
    mapped = collections.Counter(map_old(i, case_feature) for i in old)
    new = collections.Counter(nodeid for nodeid, _, _, _ in items)
    doubled = [i for i, n in mapped.items() if n > 1]
    lost = sorted(set(mapped) - set(new))
    added = sorted(set(new) - set(mapped))
    print("before: %d ids; after: %d ids; mapped one to one: %d" % (len(old), sum(new.values()),
                                                                     len(set(mapped) & set(new))))
    per_feature = collections.Counter(feature(i) for i in mapped)
    print("before, per feature it maps to: " + ", ".join("%s %d" % kv for kv in sorted(per_feature.items())))
    for label, ids in (("doubled", doubled), ("lost (old id without a new one)", lost), ("added", added)):
        if ids:
            print("%s: %d\n  " % (label, len(ids)) + "\n  ".join(ids[:50]))
    return not (doubled or lost or added) and len(old) == sum(new.values()), per_feature


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", help="`pytest --collect-only -q` output of the layout by runtime")
    args = ap.parse_args()
    items = collect()
    ok, before = check_before(args.before, items) if args.before else (True, None)
    text, after = table(items, before)
    print(text)
    print("after, per feature: " + ", ".join("%s %d" % kv for kv in sorted(after.items())))
    if args.before:
        print("MAPPING OK" if ok else "MAPPING BROKEN")
        sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
