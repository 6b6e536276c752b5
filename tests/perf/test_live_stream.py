"""The product's main job: fans join a live stream and must all stay on time.

Each scenario is a parameter set; --users, --ramp and --duration override it
for one run (`pytest tests/perf --users 100`). Thresholds are checked on
figures computed with pandas from the run's events.csv.
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
def test_live_stream(scenario, viewers):
    outcome = viewers.run(**scenario)
    summary = outcome.analysis.summary()

    assert outcome.invalid is None, f"invalid run: {outcome.invalid}"
    assert summary["viewers_with_media"] == summary["viewers_planned"], outcome.message()
    assert not outcome.breaches, outcome.message()
