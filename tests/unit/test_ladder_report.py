"""What the report shows of a ladder: the share of the viewers on each rendition second
by second, the ladder's table, and both in the written report (not in a plain run's).

The log is tests/support/ladder_log.py's, written by the event log's writer and read back
as a run's conclusion reads it. Its spans (seconds since T0; every start at 1.2 s, every
end at the last sample, 22 s):

  hls1   720p 1.2-22
  hls2   720p 1.2-8, 480p 8-16, 720p 16-22
  dash1  480p 1.2-10, 240p 10-22

so per second: 720p 2/3 and 480p 1/3 from 1 to 7, then 1/3 and 2/3 (8-9), a third
each (10-15), 720p 2/3 and 240p 1/3 (16-21); viewer-seconds 720p 20.8 + 6.8 + 6 = 33.6,
480p 8 + 8.8 = 16.8, 240p 12: 62.4 in all.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from streamperf.results.analysis import renditions
from streamperf.results.analysis.figures import analyse
from streamperf.results.eventlog import schema as ev
from streamperf.results.eventlog.columnar import read_log
from streamperf.results.eventlog.schema import Event
from streamperf.results.eventlog.writer import EventWriter
from streamperf.results.judging.judge import Verdict
from streamperf.results.report import html as report
from streamperf.results.report.artifacts import write_artifacts
from streamperf.results.report.charts import charts, fig_renditions
from tests.support.ladder_log import LADDER, T0, ladder_rows, write_ladder_log


def _read(tmp_path, rows: list[Event]):
    path = tmp_path / "events.csv"
    with EventWriter(path) as writer:
        writer.write_many(rows)
    log = read_log(path)
    return analyse(log), log.frame


@pytest.fixture(scope="module")
def ladder_run(tmp_path_factory):
    log = read_log(write_ladder_log(tmp_path_factory.mktemp("ladder") / "events.csv"))
    return analyse(log), log.frame


def test_shares_per_second_are_of_the_viewers_playing_the_ladder(ladder_run) -> None:
    a, _ = ladder_run
    shares = renditions.shares_over_time(a.spans, T0, 23)
    assert list(shares.columns) == ["720p", "480p", "240p"]  # highest bitrate first
    expected = {
        1: (2 / 3, 1 / 3, 0),
        7: (2 / 3, 1 / 3, 0),
        8: (1 / 3, 2 / 3, 0),
        9: (1 / 3, 2 / 3, 0),
        10: (1 / 3, 1 / 3, 1 / 3),
        15: (1 / 3, 1 / 3, 1 / 3),
        16: (2 / 3, 0, 1 / 3),
        21: (2 / 3, 0, 1 / 3),
    }
    for second, want in expected.items():
        assert shares.loc[second].tolist() == pytest.approx(want), second
    assert shares.loc[0].isna().all() and shares.loc[22].isna().all()  # nobody on it yet / now
    # A viewer counts for the part of a second it held: 0.8 s each in second 1.
    held = renditions.seconds_over_time(a.spans, T0, 23)
    assert held.loc[1].tolist() == pytest.approx([1.6, 0.8, 0.0])
    assert held.sum().tolist() == pytest.approx([33.6, 16.8, 12.0])
    # Buckets of 5 s, as a long run is drawn: seconds 0-4 hold 7.6 / 3.8 viewer-seconds.
    five = renditions.shares_over_time(a.spans, T0, 23, width=5)
    assert five.index.tolist() == [0, 5, 10, 15, 20]
    assert five.loc[0].tolist() == pytest.approx([2 / 3, 1 / 3, 0])
    assert five.loc[15].tolist() == pytest.approx([(1 / 3 + 4 * 2 / 3) / 5, 1 / 15, 1 / 3])


def _area_tops(fig, name: str, lo: float, hi: float) -> float:
    """The highest point of a rendition's area between two times."""
    (area,) = [c for c in fig.axes[0].collections if c.get_gid() == f"rendition:{name}"]
    xy = np.concatenate([p.vertices for p in area.get_paths()])
    inside = (xy[:, 0] >= lo) & (xy[:, 0] <= hi)
    return float(xy[inside, 1].max())


def test_the_chart_stacks_those_shares_one_colour_a_rendition_named_with_its_kbps(
    ladder_run,
) -> None:
    a, df = ladder_run
    title, fig = fig_renditions(a, df, {})
    assert title == "Renditions over time: share of the 3 viewers playing the ladder"
    ax = fig.axes[0]
    areas = [c.get_gid() for c in ax.collections]
    assert areas == ["rendition:720p", "rendition:480p", "rendition:240p"]
    colours = {tuple(c.get_facecolor()[0]) for c in ax.collections}
    assert len(colours) == 3
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["720p 2,528 kbps", "480p 1,228 kbps", "240p 478 kbps"]  # as taken at
    # 720p at the bottom: a third of the viewers from 10 s to 16 s, two thirds after.
    assert _area_tops(fig, "720p", 11, 15) == pytest.approx(100 / 3)
    assert _area_tops(fig, "720p", 17, 21) == pytest.approx(200 / 3)
    assert _area_tops(fig, "240p", 11, 21) == pytest.approx(100)  # the stack fills 100 %
    assert ax.get_ylim() == (0, 100)
    assert "renditions" in [c.name for c in charts(a, df)]


def test_the_ladder_table_per_rendition_and_its_totals(ladder_run) -> None:
    a, df = ladder_run
    made = renditions.ladder(a.viewers, a.spans, df)
    rows = made.rows.set_index("rendition")
    assert rows.index.tolist() == ["720p", "480p", "240p"]
    assert rows["res"].tolist() == ["1280x720", "854x480", "426x240"]
    assert rows["declared_kbps"].tolist() == [2640, 1210, 385]  # the rows' BANDWIDTH
    assert rows["kbps"].tolist() == [r.kbps for r in LADDER]  # the source's, audio included
    assert rows["basis"].tolist() == ["source"] * 3
    assert rows["viewer_s"].tolist() == pytest.approx([33.6, 16.8, 12.0])
    assert rows["share"].tolist() == pytest.approx([33.6 / 62.4, 16.8 / 62.4, 12 / 62.4])
    assert rows["started"].tolist() == [2, 1, 0]  # hls1, hls2 on 720p; dash1 on 480p
    assert rows["at_end"].tolist() == [2, 0, 1]
    assert (made.viewers, made.switches_up, made.switches_down) == (3, 1, 2)  # emergency: down
    hls2 = (12.8 * 2528 + 8 * 1228) / 20.8
    dash1 = (8.8 * 1228 + 12 * 478) / 20.8
    assert made.played_mean_kbps == pytest.approx((2528 + hls2 + dash1) / 3)
    assert made.top_kbps == 2528
    assert made.played_vs_top == pytest.approx(made.played_mean_kbps / 2528)
    assert made.between == ("480p", "720p")
    # The same figures as the summary the terminal and summary.json show.
    s = a.summary()
    assert (s["played_mean_kbps"], s["switches_up"], s["switches_down"]) == (
        made.played_mean_kbps,
        1,
        2,
    )


def test_without_source_rows_a_rendition_is_taken_at_what_the_viewers_received(tmp_path) -> None:
    rows = [r for r in ladder_rows() if not r.name.startswith(ev.SOURCE_RENDITION)]
    a, df = _read(tmp_path, rows)
    made = renditions.ladder(a.viewers, a.spans, df).rows
    assert made["basis"].tolist() == ["received"] * 3
    # segment bytes per media second: the viewers were sent each rendition at its kbps
    assert made["kbps"].tolist() == pytest.approx([r.kbps for r in LADDER])


def test_a_rendition_encoded_and_never_played_has_its_row_and_tops_the_ladder(tmp_path) -> None:
    extra = Event(
        T0,
        "gen1",
        "",
        ev.SOURCE,
        f"{ev.SOURCE_RENDITION}1080p",
        4628.0,
        "file",
        '{"name": "1080p", "width": 1920, "height": 1080, "video_kbps": 4500}',
    )
    a, df = _read(tmp_path, [*ladder_rows(), extra])
    made = renditions.ladder(a.viewers, a.spans, df)
    top = made.rows.iloc[0]
    assert (
        top["rendition"],
        top["res"],
        top["kbps"],
        top["share"],
        top["started"],
        top["at_end"],
    ) == ("1080p", "1920x1080", 4628.0, 0.0, 0, 0)
    assert pd.isna(top["declared_kbps"])  # no viewer read a manifest's word on it
    assert made.top_kbps == 4628.0 and made.between == ("480p", "720p")


def _cells(page: str, after: str) -> list[list[str]]:
    block = page.split(after, 1)[1].split("</table>", 1)[0]
    return [
        re.findall(r"<td[^>]*>([^<]*)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", block)
    ][1:]


def test_the_report_of_a_ladder_run_has_the_chart_and_tables_a_plain_run_neither(tmp_path) -> None:
    pages = {}
    for kind in ("ladder", "plain"):
        run_dir = tmp_path / kind
        log = read_log(write_ladder_log(run_dir / "events.csv", ladder=kind == "ladder"))
        a = analyse(log)
        fragment = write_artifacts(run_dir, kind, a, log.frame, Verdict("PASS"), {}, {})
        pages[kind] = ((run_dir / "report.html").read_text(encoding="utf-8"), fragment)
    page, fragment = pages["ladder"]
    for text in (page, fragment):  # the standalone page and pytest-html's fragment
        assert 'data-chart="renditions"' in text and "<h2>Ladder</h2>" in text
        assert 'alt="Renditions over time: share of the 3 viewers playing the ladder"' in text
    assert (tmp_path / "ladder" / "charts" / "renditions.png").exists()
    table = _cells(page, '<div class="sp-ladder">')
    assert table == [
        ["720p", "1280x720", "2,640", "2,528", "source (ffprobe)", "53.8%", "2", "2"],
        ["480p", "854x480", "1,210", "1,228", "source (ffprobe)", "26.9%", "1", "0"],
        ["240p", "426x240", "385", "478", "source (ffprobe)", "19.2%", "0", "1"],
    ]
    totals = dict(_cells(page.split('<div class="sp-ladder">', 1)[1], "</table>"))
    assert totals["viewers on the ladder"] == "3"
    assert totals["bitrate switches up / down"] == "1 / 2"
    assert totals["average played bitrate"] == "1,784 kbps"
    assert totals["against the ladder"] == (
        "71% of the top rendition (720p, 2,528 kbps); between 480p and 720p"
    )
    # DASH gets its row by protocol like the others.
    by_protocol = _cells(page, "<h2>By protocol</h2>")
    assert [(r[0], r[1], r[8]) for r in by_protocol] == [
        ("dash", "1", "1"),
        ("hls", "2", "0"),
        ("rtmp", "1", "0"),
    ]
    plain, plain_fragment = pages["plain"]
    for text in (plain, plain_fragment):
        assert 'data-chart="renditions"' not in text and "Ladder" not in text
    assert not (tmp_path / "plain" / "charts" / "renditions.png").exists()
    assert [r[0] for r in _cells(plain, "<h2>By protocol</h2>")] == ["dash", "hls", "rtmp"]


def test_a_report_rendered_later_shows_the_ladder_too(ladder_run) -> None:
    a, df = ladder_run
    page = report.render_report(a, df, "again", Verdict("PASS"), {}, {}, charts=[])
    assert "<h2>Ladder</h2>" in page  # `streamperf report` renders from the same analysis
