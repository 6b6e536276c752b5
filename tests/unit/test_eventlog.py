"""The event log as the analysis reads it (results/eventlog/columnar.py)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest

from streamperf.results.eventlog import columnar as eventlog
from streamperf.results.eventlog import rows as event_rows
from streamperf.results.eventlog import schema as ev
from streamperf.results.eventlog.columnar import EventLog, read_log, stable_order
from streamperf.results.eventlog.rows import read_events
from streamperf.results.eventlog.schema import Event
from streamperf.results.eventlog.writer import EventWriter

HEADER = ",".join(ev.COLUMNS) + "\n"


def _write(path: Path, rows: list[Event]) -> None:
    with EventWriter(path) as w:
        w.write_many(rows)


def _rows(viewers: int, seconds: int) -> list[Event]:
    out = [Event(1.0, "ctl", "", ev.RUN_START, "r", 0, "0.1", '{"users": 2}')]
    for s in range(seconds):
        for v in range(viewers):
            out += [Event(10.0 + s, f"gen{v % 2}", f"fan{v}", ev.SAMPLE_BYTES, "", 1000 + s),
                    Event(10.0 + s, f"gen{v % 2}", f"fan{v}", ev.SAMPLE_MEDIA_TS, "", 5.0 + s)]
        if s == 1:
            out.append(Event(11.5, "gen0", "fan0", ev.VIEWER_ERROR, "protocol", 0, "", "x, y"))
    return out


def test_samples_become_columns_and_the_other_rows_a_frame_as_read_events_types_it(
        tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    _write(path, _rows(3, 4))
    log = read_log(path)
    whole = read_events(path)
    assert log.rows == len(whole)
    assert list(log.names) == ["fan0", "fan1", "fan2"]
    b = log.kind(ev.SAMPLE_BYTES)
    assert len(b) == 12 and b.value.tolist()[:3] == [1000.0] * 3
    assert log.frame["event"].tolist() == [ev.RUN_START, ev.VIEWER_ERROR]
    assert log.frame.index.tolist() == [0, 13]  # positions in the log
    for column in eventlog.TEXT_COLUMNS:  # pandas strings, as read_events gives them
        assert log.frame[column].dtype == whole[column].dtype
    assert log.frame["t"].dtype == log.frame["value"].dtype == np.float64
    assert log.frame.iloc[1]["detail"] == "x, y"
    assert log.first_row.tolist() == [1, 3, 5] and log.first_host.tolist() == ["gen0", "gen1",
                                                                                "gen0"]
    assert len(log.kind(ev.SAMPLE_CAPTURE_T)) == 0
    other = EventLog.of(whole)
    assert other.rows == log.rows and list(other.names) == list(log.names)
    assert other.first_row.tolist() == log.first_row.tolist()


def test_blocks_and_growth_do_not_change_what_is_read(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "events.csv"
    _write(path, _rows(7, 30))
    whole = read_log(path)
    monkeypatch.setattr(eventlog, "BLOCK_BYTES", 1024)  # many parse blocks
    monkeypatch.setattr(eventlog._Column, "MAX_BLOCK", 5)  # many column blocks
    small = read_log(path)
    for kind in (ev.SAMPLE_BYTES, ev.SAMPLE_MEDIA_TS):
        a, b = whole.kind(kind), small.kind(kind)
        assert a.viewer.tolist() == b.viewer.tolist() and a.t.tolist() == b.t.tolist()
        assert a.value.tolist() == b.value.tolist()
    assert small.first_row.tolist() == whole.first_row.tolist()
    assert small.frame.equals(whole.frame)


def test_a_log_cut_mid_line_by_a_crash_keeps_every_complete_row(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(HEADER + "1.0,h,v,play,rtmp,1,,\n2.0,h,v,bytes,,5,,\n3.0,h,v,by")
    log = read_log(path)
    assert log.rows == 2 and log.kind(ev.SAMPLE_BYTES).value.tolist() == [5.0]


@pytest.mark.parametrize("line, says", [
    ("abc,h,v,bytes,,5,,", "line 3: t 'abc' is not a finite number"),
    ("1.0,h,v,bytes,,xyz,,", "line 3: value 'xyz' is not a finite number"),
    ("1.0,h,v,bytes,,nan,,", "line 3: value 'nan' is not a finite number"),
    ("inf,h,v,bytes,,1,,", "line 3: t 'inf' is not a finite number"),
    ("1.0,h,v,play,rtmp,1,,,x", "Expected 8 fields in line 3, saw 9"),
    ("1.0,h,v\0,bytes,,5,,", "line 3: a NUL byte"),
    ("1.0,h,v,play,rtmp,1,," + "x" * 200_000, "line 3: 200021 bytes long"),
    ("abc,h,v", "line 3: t 'abc' is not a finite number"),  # short, but no crash's cut
])
def test_a_garbled_row_is_a_one_line_error_naming_its_line(tmp_path: Path, line: str,
                                                           says: str) -> None:
    path = tmp_path / "events.csv"
    path.write_text(HEADER + "1.0,h,v,play,rtmp,1,,\n" + line + "\n2.0,h,v,bytes,,5,,\n")
    with pytest.raises(ev.EventLogError, match=re.escape(f"{path}: ")) as got:
        read_log(path)
    assert says in str(got.value) and len(str(got.value).splitlines()) == 1
    with pytest.raises(ev.EventLogError) as want:  # the rule read_events has, word for word
        read_events(path)
    assert str(got.value) == str(want.value)


def test_bad_input_deep_in_a_long_log_is_named_reading_a_piece_at_a_time(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The line named as read_events names it, though diagnose reads in chunks."""
    monkeypatch.setattr(event_rows, "DIAGNOSE_ROWS", 7)
    monkeypatch.setattr(event_rows, "_SCAN_BYTES", 100)
    rows = "".join(f"{k}.0,h,v{k % 3},bytes,,5,,\n" for k in range(100))
    for bad, says in (("50.5,h,v,bytes,,inf,,\n", "line 52: value 'inf'"),
                      ("50.5,h,v,bytes,,1,,,\n", "Expected 8 fields in line 52, saw 9"),
                      ("50.5,h,v\0,bytes,,1,,\n", "line 52: a NUL byte"),
                      ("5e,h,v,bytes,,1,,\n", "line 52: t '5e'")):
        path = tmp_path / "events.csv"
        lines = rows.splitlines(keepends=True)
        path.write_text(HEADER + "".join(lines[:50]) + bad + "".join(lines[50:]))
        with pytest.raises(ev.EventLogError, match=re.escape(says)):
            read_log(path)


def test_a_long_field_on_a_line_within_the_limit_is_read(tmp_path: Path) -> None:
    """A field long enough to make the fast reader look closer, on a line that is
    not too long: read, all of it."""
    path = tmp_path / "events.csv"
    long = "d" * 20_000
    path.write_text(HEADER + f"1.0,h,v,play,rtmp,1,,{long}\n2.0,h,v,bytes,,5,,\n3.0,h,v,by")
    log = read_log(path)
    assert log.rows == 2 and log.frame["detail"].iloc[0] == long


def test_a_file_without_the_columns_is_not_an_event_log(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("t,host,viewer\n1,2,3\n")
    with pytest.raises(ValueError, match="not a streamperf event log"):
        read_log(path)


def test_a_file_object_is_read_too() -> None:
    log = read_log(io.StringIO(HEADER + "1.0,h,v,play,rtmp,1,,\n2.0,h,v,bytes,,5,,\n"))
    assert log.rows == 2 and list(log.names) == ["v"]


def test_sorting_by_viewer_keeps_log_order_and_marks_each_viewers_first_row() -> None:
    s = eventlog.Samples(np.array([2, 0, 2, 1, 0], np.int32), np.array([1.0, 1, 2, 3, 0.5]),
                         np.array([10.0, 11, 12, 13, 14]))
    s.sort_by_viewer()  # viewer 0's rows out of time order: sorted by time too
    assert s.viewer.tolist() == [0, 0, 1, 2, 2]
    assert s.t.tolist() == [0.5, 1.0, 3.0, 1.0, 2.0]
    assert s.value.tolist() == [14.0, 11.0, 13.0, 10.0, 12.0]
    assert s.first is not None and s.first.tolist() == [False, True, True, True, False]


def test_the_stable_order_of_many_codes_is_numpys() -> None:
    rng = np.random.default_rng(1)
    for high in (300, 70_000):
        keys = rng.integers(0, high, 50_000).astype(np.int32)
        assert (stable_order(keys) == np.argsort(keys, kind="stable")).all()
