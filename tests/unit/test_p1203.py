"""The ITU-T P.1203 mode-0 input each ladder viewer gets in its run directory
(`p1203/<viewer>.json`), over tests/support/ladder_log.py's log written by the event
log's writer: its segments in media time sum to the media the viewer played, its
stalls are the playhead model's. Nothing here runs a P.1203 model (its licence
forbids commercial use): the documents are checked against the log.
"""

from __future__ import annotations

import itertools
import json

import pytest

from streamperf.results.analysis import p1203
from streamperf.results.analysis.figures import analyse
from streamperf.results.eventlog import schema as ev
from streamperf.results.eventlog.columnar import read_log
from streamperf.results.eventlog.schema import Event
from streamperf.results.eventlog.writer import EventWriter
from streamperf.results.judging.judge import Verdict
from streamperf.results.report.artifacts import p1203_file_names, write_artifacts
from tests.support.ladder_log import FIRST_AT, SECONDS, T0, ladder_rows, write_ladder_log


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("ladder")
    log = read_log(write_ladder_log(run_dir / "events.csv"))
    a = analyse(log)
    write_artifacts(run_dir, "ladder", a, log.frame, Verdict("PASS"), {}, {})
    docs = {p.stem: json.loads(p.read_text()) for p in (run_dir / "p1203").glob("*.json")}
    return a, log.frame, docs


def _played_s(df, a, viewer: str) -> float:
    """From the rows: first video frame to last sample, less the playhead model's stalls."""
    first = float(df[(df["viewer"] == viewer) & (df["event"] == ev.FIRST_VIDEO)]["t"].min())
    end = T0 + FIRST_AT + SECONDS  # every viewer's last sample
    stalled = float(a.stall_starts[a.stall_starts["viewer"] == viewer]["seconds"].sum())
    return end - first - stalled


def test_each_ladder_viewer_gets_a_document_and_the_rtmp_viewer_none(run) -> None:
    _, _, docs = run
    assert sorted(docs) == ["dash1", "hls1", "hls2"]
    for doc in docs.values():
        assert set(doc) == {"I11", "I13", "I23", "IGen", "streamperf"}
        assert doc["IGen"] == {"device": "pc", "displaySize": "1280x720"}  # the top rung
        ids = {doc[k]["streamId"] for k in ("I11", "I13", "I23")}
        assert len(ids) == 1
    assert len({doc["I13"]["streamId"] for doc in docs.values()}) == 3


def test_video_segments_follow_the_renditions_in_media_time_and_sum_to_the_played_media(
    run,
) -> None:
    a, df, docs = run
    seg = [
        (s["start"], s["duration"], s["bitrate"], s["resolution"])
        for s in docs["dash1"]["I13"]["segments"]
    ]
    # 480p from the first frame (2 s) to the switch (10 s); 240p to the end, less the stall
    assert seg == [(0.0, 8.0, 1100.0, "854x480"), (8.0, 9.0, 350.0, "426x240")]
    assert [s["start"] for s in docs["hls2"]["I13"]["segments"]] == [0.0, 6.0, 14.0]
    assert docs["hls2"]["streamperf"]["renditions"] == ["720p", "480p", "720p"]
    for viewer, doc in docs.items():
        video = doc["I13"]["segments"]
        assert sum(s["duration"] for s in video) == pytest.approx(_played_s(df, a, viewer))
        assert doc["streamperf"]["played_s"] == pytest.approx(_played_s(df, a, viewer))
        for s, nxt in itertools.pairwise(video):  # back to back
            assert s["start"] + s["duration"] == pytest.approx(nxt["start"])
        assert {(s["codec"], s["fps"]) for s in video} == {("h264", 30.0)}
        # the source's video stream: the shared audio is I11's
        assert set(doc["streamperf"]["bitrate_basis"].values()) == {"video stream (source)"}
        audio = doc["I11"]["segments"]
        assert [(s["start"], s["duration"]) for s in audio] == [
            (s["start"], s["duration"]) for s in video
        ]
        assert {(s["codec"], s["bitrate"]) for s in audio} == {("aaclc", 128.0)}
        assert doc["streamperf"]["assumed"] == []


def test_stalls_are_the_playhead_models_after_the_initial_loading(run) -> None:
    a, df, docs = run
    for viewer, doc in docs.items():
        stalls = a.stall_starts[a.stall_starts["viewer"] == viewer].sort_values("t")
        first = float(df[(df["viewer"] == viewer) & (df["event"] == ev.FIRST_VIDEO)]["t"].min())
        expected, before = [], 0.0
        for t, seconds in zip(stalls["t"], stalls["seconds"], strict=True):
            expected.append([pytest.approx(t - first - before), pytest.approx(seconds)])
            before += seconds
        startup = float(a.viewers.set_index("viewer").loc[viewer, "startup_s"])
        assert doc["I23"]["stalling"] == [[0.0, pytest.approx(startup)], *expected]
    # dash1's media stopped for 3 s: one stall 11 s into what it played
    assert docs["dash1"]["I23"]["stalling"] == [[0.0, 1.0], [11.0, 3.0]]
    assert docs["hls1"]["I23"]["stalling"] == [[0.0, 1.0]]


def test_what_the_log_does_not_say_takes_a_stated_default(tmp_path) -> None:
    """A ladder someone else serves, its manifest without FRAME-RATE or CODECS: no
    source rows, rendition rows with a resolution only."""
    rows = []
    for r in ladder_rows():
        if r.name.startswith(ev.SOURCE_RENDITION):
            continue
        if r.event == ev.RENDITION:
            d = json.loads(r.detail)
            r = r._replace(detail=json.dumps({"why": d["why"], "res": d["res"]}))
        rows.append(r)
    path = tmp_path / "events.csv"
    with EventWriter(path) as writer:
        writer.write_many(rows)
    log = read_log(path)
    doc = p1203.inputs(analyse(log), log.frame)["hls1"]
    (seg,) = doc["I13"]["segments"]
    assert (seg["codec"], seg["fps"], seg["resolution"]) == ("h264", 30.0, "1280x720")
    # what the viewers received of 720p, its audio inside: no source said the audio's rate
    assert seg["bitrate"] == pytest.approx(2528.0)
    assert doc["streamperf"]["bitrate_basis"] == {"720p": "rendition (audio included)"}
    assert doc["I11"]["segments"] == []
    assert doc["streamperf"]["assumed"] == [
        "720p fps 30 (not declared)",
        "720p codec h264 (not declared)",
        "audio codec aaclc (not declared)",
        "audio bitrate unknown: I11 has no segments",
    ]


def test_a_run_without_a_ladder_writes_no_p1203_directory(tmp_path) -> None:
    log = read_log(write_ladder_log(tmp_path / "events.csv", ladder=False))
    a = analyse(log)
    write_artifacts(tmp_path, "plain", a, log.frame, Verdict("PASS"), {}, {})
    assert p1203.inputs(a, log.frame) == {}
    assert not (tmp_path / "p1203").exists()


def test_file_names_stay_inside_the_directory_and_distinct() -> None:
    names = ["fan1", "../x", "a/b", ".hidden", "Fan1", "fan1", ""]
    assert p1203_file_names(names) == [
        "fan1.json",
        "_x.json",
        "a_b.json",
        "hidden.json",
        "Fan1-2.json",
        "fan1-3.json",
        "viewer.json",
    ]


def test_a_viewer_without_a_first_frame_gets_no_document(tmp_path) -> None:
    rows = [
        r
        for r in ladder_rows()
        if not (r.viewer == "hls1" and r.event in (ev.FIRST_VIDEO, ev.FIRST_AUDIO))
    ]
    rows.append(Event(T0 + 3, "gen1", "hls1", ev.VIEWER_ERROR, "timeout", 0.0))
    path = tmp_path / "events.csv"
    with EventWriter(path) as writer:
        writer.write_many(sorted(rows, key=lambda r: r.t))
    log = read_log(path)
    assert sorted(p1203.inputs(analyse(log), log.frame)) == ["dash1", "hls2"]
