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
# judged (a saturated machine makes a run invalid): the unit tests and the integration
# tests that judge no run (SSH hosts prepare venvs, Chromium renders reports, fleets on
# moto, worker processes, the report CLI), on four workers (their waits overlap the
# others' CPU); the runs that load the machine themselves (SSH hosts carry 200 viewers;
# a fleet's user data builds a venv), a module per worker; then the other integration
# tests and the perf scenarios, which mostly wait on real time, on four workers (tests
# that start a pytest of their own take turns: tests/integration/conftest.py CPU_SLOTS).
UNJUDGED := $(addprefix tests/integration/,test_ssh_hosts.py test_report_browser.py \
	test_fleet.py test_local_procs.py test_report_cli.py)
ALONE := tests/integration/test_scale_out.py tests/integration/test_fleet_hosts.py
test: setup lint
	$(VENV)/pytest tests/unit $(UNJUDGED) -q -rfEs -n 4
	$(VENV)/pytest $(ALONE) -v -rfEs -n 2 --dist loadfile --durations=5
	$(VENV)/pytest tests/integration tests/perf $(addprefix --ignore=,$(ALONE) $(UNJUDGED)) \
	    -v -rfEs -n 4 --maxschedchunk 1 --durations=15 --users 20 --duration 10s

lint:
	$(VENV)/ruff check src tests benchmarks

bench: setup
	$(VENV)/python benchmarks/rtmp_viewers.py --viewers 500 1000
