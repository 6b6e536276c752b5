"""The product's main job: fans join a live stream and must all stay on time.

Each scenario is a parameter set; --users, --ramp and --duration override it
for one run (`pytest tests/perf --users 100`). The `streamperf_run` fixture
runs the scenario; the SLA (docs/sla.md: defaults, pyproject.toml, --sla,
@pytest.mark.sla) is checked on figures computed with pandas from the
run's events.csv. A run that cannot be judged (publisher died, saturated
load generator) is an error, not a failure.
"""

from __future__ import annotations

import pytest

SCENARIOS = [
    # Fans trickle in, one every half second, and watch.
    pytest.param({"users": 20, "ramp_s": 0.5, "duration_s": 60.0}, id="steady_audience"),
    # A "went live" notification: everyone arrives within a couple of seconds.
    pytest.param({"users": 20, "ramp_s": 0.05, "duration_s": 45.0}, id="join_storm"),
]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_live_stream(scenario, streamperf_run):
    summary = streamperf_run.analysis.summary()
    assert summary["viewers_with_media"] == summary["viewers_planned"], streamperf_run.message()
    assert streamperf_run.passed, streamperf_run.message()
