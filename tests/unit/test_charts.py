from __future__ import annotations

import base64
import io

import matplotlib.image as mpimg
import pytest

from streamperf.results.analysis.figures import analyse
from streamperf.results.report import charts as ch
from tests.support.report_logs import synthetic_run
from tests.support.timelines import Timeline

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ALL = ["bitrate", "lagged", "drift_latency", "startup", "stalls", "api", "hosts"]
LIMITS = {"startup_s": 1.5, "lagged": 2, "bitrate_ratio": 0.9, "drift_s": 3.0,
          "latency_s": 4.0, "stall_s": 2.0, "api_latency_s": 1.0, "cpu_pct": 80.0,
          "loop_lag_s": 0.5}


@pytest.fixture(scope="module")
def run():
    df = synthetic_run().frame()
    return analyse(df, lag_threshold_s=3.0), df


def test_every_chart_is_a_png_of_the_agreed_size(run):
    a, df = run
    charts = ch.charts(a, df, LIMITS)
    assert [c.name for c in charts] == ALL
    for c in charts:
        assert c.png.startswith(PNG_SIGNATURE), c.name
        img = mpimg.imread(io.BytesIO(c.png), format="png")
        height, width = img.shape[:2]
        assert width == 900 and height >= 350, (c.name, img.shape)
        assert c.title
        assert c.data_uri.startswith("data:image/png;base64,")
        assert base64.b64decode(c.data_uri.split(",", 1)[1]) == c.png


def test_each_limit_is_drawn_on_its_chart_at_its_value(run):
    a, df = run
    drawn = {name: ch.limit_lines(fig) for name, _, fig in ch.figures(a, df, LIMITS)}
    assert drawn["startup"] == {"startup_s": 1.5}
    assert drawn["lagged"] == {"lagged": 2.0}
    # The ratio is drawn in kbps: 0.9 x the 1000 kbps source.
    assert drawn["bitrate"] == {"bitrate_ratio": pytest.approx(900.0)}
    assert drawn["drift_latency"] == {"drift_s": 3.0, "latency_s": 4.0}
    assert drawn["stalls"] == {"stall_s": 2.0}
    assert drawn["api"] == {"api_latency_s": 1.0}  # a vertical line: bars are horizontal
    assert drawn["hosts"] == {"cpu_pct": 80.0, "loop_lag_s": 0.5}


def test_no_limits_no_limit_lines(run):
    a, df = run
    for name, _, fig in ch.figures(a, df, None):
        assert ch.limit_lines(fig) == {}, name


def test_limit_line_is_a_horizontal_line_at_the_limit(run):
    a, df = run
    title, fig = ch.fig_startup(a, df, {"startup_s": 1.5})
    lines = [ln for ln in fig.axes[0].lines if ln.get_gid() == "sla:startup_s"]
    assert len(lines) == 1
    assert list(lines[0].get_ydata()) == [1.5, 1.5]
    assert "Startup" in title


def test_lagged_pct_follows_the_connected_viewers(run):
    a, df = run
    _, fig = ch.fig_lagged(a, df, {"lagged_pct": 50})
    (line,) = [ln for ln in fig.axes[0].lines if ln.get_gid() == "sla:lagged_pct"]
    assert list(line.get_ydata()) == pytest.approx(list(a.timeline["connected"] * 0.5))


def test_charts_without_their_data_are_left_out():
    tl = Timeline()
    for i in range(3):
        tl.viewer(f"fan{i}", play_at=100, seconds=10)
    tl.rows = [r for r in tl.rows if r.event != "api"]
    df = tl.frame()
    names = [c.name for c in ch.charts(analyse(df), df, LIMITS)]
    # No host rows, no API rows, no publish clock: those charts are skipped, not empty.
    assert names == ["bitrate", "lagged", "drift_latency", "startup", "stalls"]
    _, _, fig = ch.figures(analyse(df), df)[2]
    assert [ln.get_label() for ln in fig.axes[0].lines] == ["drift p50", "drift p95"]


def test_many_hosts_are_drawn_as_median_and_max():
    hosts = tuple(f"gen{i}" for i in range(12))
    df = synthetic_run(viewers=3, hosts=hosts).frame()
    _, fig = ch.fig_hosts(analyse(df), df, {})
    labels = [ln.get_label() for ln in fig.axes[0].lines]
    assert labels == ["host CPU median", "host CPU max", "streamperf process median",
                      "streamperf process max"]
    assert "12 hosts" in fig.texts[0].get_text()


def test_host_net_bytes_become_mbit_per_second():
    df = synthetic_run(viewers=1, hosts=("gen1",)).frame()
    h = ch.host_series(df)
    # 2e6 bytes every 2 s = 8 Mbit/s, including the first sample (the sampler's period).
    assert h["net_in_mbps"].tolist() == pytest.approx([8.0] * len(h))


def test_an_hour_long_timeline_is_drawn_from_600_buckets_keeping_a_one_second_spike() -> None:
    import types

    import numpy as np
    import pandas as pd

    from streamperf.results.analysis.timeline import TIMELINE_COLUMNS
    from streamperf.results.report.charts import MAX_POINTS, fig_lagged, timeline_points

    seconds = np.arange(3600)
    tl = pd.DataFrame({c: np.ones(3600) for c in TIMELINE_COLUMNS})
    tl["second"] = seconds
    tl["connected"] = 10_000
    tl["lagged"] = 0
    tl.loc[1234, "lagged"] = 37  # one bad second
    tl["p5_kbps"] = 1000.0
    tl.loc[2000, "p5_kbps"] = 12.0
    points, width = timeline_points(tl)
    assert width == 6 and len(points) == MAX_POINTS
    assert points["lagged"].max() == 37 and points["p5_kbps"].min() == 12.0
    assert points["connected"].eq(10_000).all()
    a = types.SimpleNamespace(timeline=tl, lag_threshold_s=3.0)
    title, fig = fig_lagged(a, pd.DataFrame(), {})
    lagged = next(line for line in fig.axes[0].lines if line.get_label() == "lagged")
    assert len(lagged.get_ydata()) == MAX_POINTS and max(lagged.get_ydata()) == 37
    assert "6 s" in title
    short = tl.head(300)
    assert timeline_points(short)[0] is short
