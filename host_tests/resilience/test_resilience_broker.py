"""The resilience cases against the REAL Emitter broker (never a fake): every `def case_xxx(env):` in
resilience/bs_link.py, resilience/bs_offline.py, resilience/bs_resilience.py, in-process under CPython per umqtt version
(test_cpython) and under every MicroPython runtime (test_unix_port); the runner is support/broker_cases.py."""
import broker_cases

pytest_plugins = ["toxiproxy", "broker_cases"]  # toxi_proxy; base_env, proxy

test_cpython, test_unix_port = broker_cases.tests("bs_link", "bs_offline", "bs_resilience")
