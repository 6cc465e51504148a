"""What the field reports from lwIP boards, each a case on the lwIP build (link_faults/field_lwip.py)
against the real broker through Toxiproxy; the same cases on the frozen 32-bit build (POSIX sockets)
give the other column of the comparison. The longest block of any library call per fault must stay
under the rp2 watchdog's maximum (8,388 ms) with the board app's settings.
"""
import re

import pytest

import runtimes
from broker_cases import make_env
from broker_harness import case_dir, run_in_unix_port

pytest_plugins = ["toxiproxy", "broker_cases"]  # toxi_proxy; base_env, proxy

_CASE_DEF = re.compile(r"^def (case_\w+)\s*\(\s*env\s*\)\s*:", re.M)
CASES = _CASE_DEF.findall((case_dir("field_lwip") / "field_lwip.py").read_text())
RUNTIMES = [runtimes.LWIP32, runtimes.FROZEN32]
WATCHDOG_MS = 8388  # the RP2040's longest watchdog timeout
BOARD_TIMEOUT_MS = 3000  # field_lwip.BOARD's timeout, the rp2040 board app's
longest = {}  # (runtime, fault) -> ms, for the summary


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("case", CASES)
def test_field(broker, base_env, proxy, runtime, case):  # noqa: F811
    env = make_env(broker, base_env, proxy)
    env["name_host"] = "broker.test" if runtime == runtimes.LWIP32 else "localhost"
    ok, report = run_in_unix_port("field_lwip", case, env, runtime, timeout=240)
    print(report)
    blocks = {f: int(ms) for f, ms in re.findall(r"^BLOCK (\S+) (\d+)$", report, re.M)}
    for fault, ms in blocks.items():
        longest[(runtime, fault)] = ms
    if not ok:
        pytest.fail(report, pytrace=False)
    assert blocks, "the case printed no BLOCK lines"
    over = {f: ms for f, ms in blocks.items() if ms >= WATCHDOG_MS}
    assert not over, "calls blocked longer than the rp2 watchdog allows: %r" % over
    if runtime == runtimes.LWIP32 and "stall" in blocks:
        # On lwIP a write stalled by a closed window gives up after the timeout (3 s), in one piece.
        # POSIX sockets may take a second timeout for the rest of a packet they took in part.
        assert blocks["stall"] <= BOARD_TIMEOUT_MS + 500, blocks


def test_cases_found():
    assert len(CASES) >= 6, CASES
