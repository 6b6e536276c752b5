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

# Phases, so that what loads the CPU never runs beside a run whose figures are judged
# (a saturated machine makes a run invalid). Markers choose them (pyproject.toml;
# tests/unit/test_phases.py checks that each test runs in exactly one): unmarked, the
# unit tests and the integration tests that judge no run (SSH hosts prepare venvs,
# Chromium renders reports, fleets on moto, worker processes, the report CLI), on four
# workers (their waits overlap the others' CPU), with `busy_ok` beside them (and the
# next phase): runs whose checks hold on a busy machine, the two-minute truth run first
# among them (their log is printed after);
# `loads_cpu`, the runs that load the machine themselves (SSH hosts carry 200 viewers;
# a fleet's user data builds a venv), a module per worker; then `realtime`, the other
# integration tests and the perf scenarios, which mostly wait on real time: those that
# start a pytest of their own (`own_pytest`: a core's worth of CPU as it starts and ends)
# two at a time beside the rest on three workers (tests/integration/conftest.py
# CPU_SLOTS still bounds them; a worker of its own each, none waits for a slot).
UNJUDGED := not realtime and not loads_cpu
BESIDE := busy_ok
ALONE := loads_cpu
OWN := realtime and own_pytest and not loads_cpu and not busy_ok
REALTIME := realtime and not own_pytest and not loads_cpu and not busy_ok
BESIDE_LOG := reports/make-test-beside.log
OWN_LOG := reports/make-test-own.log
PERF_SIZE := --users 20 --duration 10s
test: setup lint
	@mkdir -p reports && rm -f $(BESIDE_LOG).rc $(OWN_LOG).rc
	( $(VENV)/pytest tests -m "$(BESIDE)" -v -rfEs -n 2 --dist loadfile --durations=5; \
	  echo $$? > $(BESIDE_LOG).rc ) > $(BESIDE_LOG) 2>&1 &
	$(VENV)/pytest tests -m "$(UNJUDGED)" -q -rfEs -n 4 --dist worksteal
	$(VENV)/pytest tests -m "$(ALONE)" -v -rfEs -n 2 --dist loadfile --durations=5
	@scripts/await_log.sh $(BESIDE_LOG) 600
	( $(VENV)/pytest tests -m "$(OWN)" -v -rfEs -n 2 --durations=10 $(PERF_SIZE); \
	  echo $$? > $(OWN_LOG).rc ) > $(OWN_LOG) 2>&1 &
	$(VENV)/pytest tests -m "$(REALTIME)" -v -rfEs -n 3 --dist worksteal --durations=15 \
	    $(PERF_SIZE); rc=$$?; scripts/await_log.sh $(OWN_LOG) 600 && exit $$rc

lint:
	$(VENV)/ruff check src tests benchmarks

bench: setup
	$(VENV)/python benchmarks/rtmp_viewers.py --viewers 500 1000
	$(VENV)/python benchmarks/abr_viewers.py --viewers 1000 --seconds 30
	$(VENV)/python benchmarks/llhls_viewers.py --viewers 1000 --seconds 30
