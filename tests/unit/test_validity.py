from __future__ import annotations

from streamperf.results.analysis.validity import invalid_reason, saturation
from streamperf.results.eventlog import schema as ev
from tests.support.timelines import Timeline


def host_samples(tl: Timeline, host: str, name: str, values: list[float]) -> None:
    for i, v in enumerate(values):
        tl.rows.append(ev.Event(100.0 + 2 * i, host, "", ev.HOST_SAMPLE, name, v))


def test_healthy_hosts_are_valid():
    tl = Timeline()
    host_samples(tl, "gen1", "cpu_pct", [50, 95, 60, 95, 95, 40])  # never 3 in a row
    host_samples(tl, "gen1", "loop_lag_s", [0.01, 0.4, 0.02])  # one spike
    assert saturation(tl.frame()) == []
    assert invalid_reason(tl.frame()) is None


def test_sustained_cpu_or_loop_lag_makes_the_run_invalid_naming_the_host():
    tl = Timeline()
    host_samples(tl, "gen1", "cpu_pct", [50, 95, 96, 99, 40])
    host_samples(tl, "gen2", "loop_lag_s", [0.01, 0.3, 0.5, 0.02])
    reasons = saturation(tl.frame())
    assert reasons == [
        "host gen1: host CPU over 90% for 3 samples in a row (peak 99)",
        "host gen2: event-loop lag over 0.25 s for 2 samples in a row (peak 0.5)",
    ]
    assert invalid_reason(tl.frame()).startswith("load generator saturated: host gen1")


def test_dead_publisher_is_named():
    tl = Timeline()
    tl.rows.append(ev.Event(101.0, "gen1", "", ev.PUBLISHER_EXIT, "", -9))
    assert invalid_reason(tl.frame(), "run/publisher.log") == (
        "publisher died; its log: run/publisher.log")
