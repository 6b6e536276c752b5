from __future__ import annotations

import time

from streamperf.results.eventlog import schema as ev
from streamperf.results.eventlog.rows import iter_rows, read_events
from streamperf.results.eventlog.schema import COLUMNS, Event
from streamperf.results.eventlog.writer import EventWriter


def test_rows_round_trip_through_the_loader(tmp_path):
    path = tmp_path / "events.csv"
    with EventWriter(path) as w:
        w.write(Event(1000.5, "h1", "testfan1", ev.API, "POST /api/v1/fans", 0.0123, "200"))
        w.emit(ev.VIEWER_ERROR, viewer="testfan2", name="disconnect",
               detail="rtmp://127.0.0.1:1/live/x: closed\nby peer, \"quoted\"", t=1001.0,
               host="h2")
    df = read_events(path)
    assert list(df.columns) == list(COLUMNS)
    assert df["viewer"].tolist() == ["testfan1", "testfan2"]
    assert df.loc[0, "value"] == 0.0123
    assert df.loc[0, "status"] == "200"
    # Newlines are flattened so every row stays one line of the file.
    assert df.loc[1, "detail"] == 'rtmp://127.0.0.1:1/live/x: closed by peer, "quoted"'
    assert len(path.read_text().splitlines()) == 3


def test_writer_flushes_within_a_second_without_close(tmp_path):
    path = tmp_path / "events.csv"
    w = EventWriter(path, flush_interval=0.2)
    try:
        w.emit(ev.PLAY, viewer="testfan1", name="rtmp")
        deadline = time.monotonic() + 1.0
        while "testfan1" not in path.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        # Another process (a reader after a crash) sees the row before close.
        assert "testfan1" in path.read_text()
    finally:
        w.close()


def test_append_to_existing_log_keeps_one_header(tmp_path):
    path = tmp_path / "events.csv"
    for i in range(2):
        with EventWriter(path) as w:
            w.emit(ev.PLAY, viewer=f"fan{i}")
    assert path.read_text().count("t,host,viewer") == 1
    assert [e.viewer for e in iter_rows(path.read_text())] == ["fan0", "fan1"]
