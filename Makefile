# The two commands a fresh machine needs (see README):
#   make perf   set up, then run the local load test (USERS=100 DURATION=60s)
#   make test   set up, then run the test suite (what CI runs)
USERS ?= 100
DURATION ?= 60s
VENV := .venv/bin

.PHONY: setup perf test lint bench

setup:
	@scripts/setup.sh

perf: setup
	$(VENV)/pytest tests/perf --users $(USERS) --duration $(DURATION)

# Three phases, so that what loads the CPU never runs beside a run whose figures are
# judged (a saturated machine makes a run invalid): the unit tests (CPU-bound, two
# workers); the tests that load the machine themselves, alone (SSH hosts prepare venvs
# and carry 200 viewers; a fleet's user data builds a venv; Chromium renders reports);
# then the other integration tests and the perf scenarios, which mostly wait on real
# time, on three workers.
ALONE := tests/integration/test_scale_out.py tests/integration/test_ssh_hosts.py \
	tests/integration/test_report_browser.py tests/integration/test_fleet_hosts.py
test: setup lint
	$(VENV)/pytest tests/unit -q -rfEs -n 2
	$(VENV)/pytest $(ALONE) -v -rfEs --durations=5
	$(VENV)/pytest tests/integration tests/perf $(addprefix --ignore=,$(ALONE)) -v -rfEs \
	    -n 3 --durations=15 --users 20 --duration 20s

lint:
	$(VENV)/ruff check src tests benchmarks

bench: setup
	$(VENV)/python benchmarks/rtmp_viewers.py --viewers 500 1000
