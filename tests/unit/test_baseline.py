from __future__ import annotations

import json

import pandas as pd
import pytest

from streamperf.results.analysis.figures import Analysis, analyse
from streamperf.results.eventlog import schema as ev
from streamperf.results.judging.baseline import (
    FIGURES,
    BaselineError,
    baseline_path,
    compare,
    figures,
    load_baseline,
    parse_tolerances,
    save_baseline,
)
from tests.support.timelines import Timeline


def run(startup: float = 2.0, viewers: int = 5, t0: float | None = 85.0) -> Analysis:
    tl = Timeline(t0=t0)
    for i in range(viewers):
        tl.viewer(f"fan{i}", play_at=100 + i, seconds=20, startup=startup)
    df = tl.frame()
    a = analyse(df)
    if getattr(a, "api_rows", None) is None:  # until analyse() records per-call API rows
        api = df[df["event"] == ev.API]
        a.api_rows = pd.DataFrame(  # type: ignore[attr-defined]
            {"endpoint": api["name"], "latency_s": api["value"], "status": api["status"]})
    return a


def test_figures_of_a_steady_run_by_hand():
    f = figures(run())
    # Fan i plays at 100+i and gets media ts 15 at 102+i (T0 85): latency 2+i, constant.
    # 100 samples, 20 at each of 2..6 s: the p95 (rank 94.05 of 0..99) is 6.
    assert f == pytest.approx({
        "startup_p95_s": 2.0,
        "latency_p95_s": 6.0,
        "max_drift_s": 0.0,
        "stalls_per_viewer": 0.0,
        "rebuffer_ratio_mean": 0.0,
        "api_error_rate": 0.0,
        "api_latency_p95_s": 0.05,
        "bitrate_ratio_mean": 1.0,
        "media_share": 1.0,
    })
    assert set(f) == set(FIGURES)


def test_save_load_round_trip_by_name_and_by_path(tmp_path):
    a = run()
    store = tmp_path / ".streamperf" / "baselines"
    summary = {**a.summary(), **figures(a)}
    path = save_baseline("smoke-1.0_x", summary, store)
    assert path == store / "smoke-1.0_x.json"
    doc = load_baseline("smoke-1.0_x", store)
    assert doc["name"] == "smoke-1.0_x"
    assert doc["figures"] == pytest.approx(figures(a))
    assert doc["summary"]["viewers_planned"] == 5
    assert compare(a, doc) == []
    # An Analysis may be given directly; a path (with / or .json) is a file.
    other = save_baseline(str(tmp_path / "b.json"), a, store)
    assert other == tmp_path / "b.json"
    assert load_baseline(str(other), store)["figures"] == doc["figures"]
    assert not json.loads(other.read_text())["figures"]["max_drift_s"]  # 0.0, valid JSON


def test_missing_baseline_says_where_it_looked(tmp_path):
    with pytest.raises(BaselineError) as err:
        load_baseline("nightly", tmp_path)
    msg = str(err.value)
    assert msg == (f"baseline 'nightly' not found: no file {tmp_path / 'nightly.json'} "
                   "(save one with --save-baseline nightly)")
    with pytest.raises(BaselineError, match="not readable JSON"):
        (tmp_path / "bad.json").write_text("{")
        load_baseline("bad", tmp_path)
    with pytest.raises(BaselineError, match="use a name of letters"):
        baseline_path("two words", tmp_path)


def test_thirty_percent_worse_startup_fails_with_value_and_limit(tmp_path):
    base = load_baseline(str(save_baseline("b", run(startup=2.0), tmp_path)), tmp_path)
    breaches = compare(run(startup=2.6), base)
    assert [str(b) for b in breaches] == [
        "startup_p95_s = p95(startup_s) vs baseline 'b': measured 2.6 s (baseline 2 s, +30%), "
        "limit <= 2.4 s (20% of baseline)"]


def test_ten_percent_worse_and_improvements_pass(tmp_path):
    base = load_baseline(str(save_baseline("b", run(startup=2.0), tmp_path)), tmp_path)
    assert compare(run(startup=2.2), base) == []
    assert compare(run(startup=1.0), base) == []


def test_tolerance_overall_and_per_figure():
    base = {"startup_p95_s": 2.0, "latency_p95_s": 2.0}
    now = {"startup_p95_s": 2.6, "latency_p95_s": 2.6}
    assert [b.check.split(" ")[0] for b in compare(now, base)] == ["startup_p95_s",
                                                                   "latency_p95_s"]
    assert compare(now, base, {"*": 0.5}) == []
    assert [b.check.split(" ")[0] for b in compare(now, base, {"startup_p95_s": 0.5})] == [
        "latency_p95_s"]
    assert parse_tolerances("15%, startup_p95_s=30%") == pytest.approx(
        {"*": 0.15, "startup_p95_s": 0.3})
    with pytest.raises(BaselineError, match="unknown figure 'startup'"):
        parse_tolerances("startup=30%")
    with pytest.raises(BaselineError, match="not a percentage"):
        parse_tolerances("lots")
    with pytest.raises(BaselineError, match="unknown figure"):
        compare(now, base, {"nope": 0.1})


def test_near_zero_figures_use_an_absolute_floor():
    # 0.1% -> 0.2% API errors is +100% but within the 0.5 point floor.
    assert compare({"api_error_rate": 0.002}, {"api_error_rate": 0.001}) == []
    [b] = compare({"api_error_rate": 0.01}, {"api_error_rate": 0.001})
    assert (b.measured, b.limit) == ("1.00% (baseline 0.10%, +900%)", "<= 0.60% (floor 0.50%)")
    # From zero: an absolute change, no percentage.
    [b] = compare({"max_drift_s": 0.8}, {"max_drift_s": 0.0})
    assert (b.measured, b.limit) == ("0.8 s (baseline 0 s, +0.8)", "<= 0.5 s (floor 0.5 s)")
    assert compare({"max_drift_s": 0.4}, {"max_drift_s": 0.0}) == []


def test_higher_is_better_figures_regress_downwards():
    base = {"bitrate_ratio_mean": 1.0, "media_share": 1.0}
    assert compare({"bitrate_ratio_mean": 1.2, "media_share": 1.0}, base) == []
    [b] = compare({"bitrate_ratio_mean": 0.7, "media_share": 0.9}, base)
    assert b.check.startswith("bitrate_ratio_mean") and b.limit == ">= 0.8 (20% of baseline)"


def test_a_figure_the_baseline_has_and_the_run_lacks_is_a_breach():
    base = {"figures": {"latency_p95_s": 1.0, "api_latency_p95_s": None}, "name": "n"}
    [b] = compare(run(t0=None), base)  # no publish clock: no latency
    assert str(b) == ("latency_p95_s = p95(latency_s) vs baseline 'n': measured no data, "
                      "limit <= 1.25 s (floor 0.25 s); worst: baseline 1 s")
