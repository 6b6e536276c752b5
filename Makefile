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

test: setup lint
	$(VENV)/pytest tests -v -rfEs -n 2 --dist loadgroup --durations=15 --users 20 --duration 30s

lint:
	$(VENV)/ruff check src tests benchmarks

bench: setup
	$(VENV)/python benchmarks/rtmp_viewers.py --viewers 500 1000
