"""A ladder run's event log, written by the event log's own writer, with its figures
worked out by hand (tests/unit/test_ladder_report.py says how).

Three renditions encoded by streamperf (source rows `bitrate_kbps:NAME`, each with
its ffprobe detail), four viewers from T0 + 1 s, first frame at T0 + 2 s, one
sample a second for 20 s (the last at T0 + 22 s):

  hls1   HLS on 720p throughout
  hls2   HLS: 720p, down to 480p at T0 + 8 s, up to 720p at T0 + 16 s
  dash1  DASH: 480p, emergency switch to 240p at T0 + 10 s; its media stops
         for 3 s (samples 11-13), so the playhead model stalls 3 s from T0 + 13 s
  rtmp1  RTMP, no ladder

Each ladder viewer writes its start rendition at T0 + 1.2 s (before its first
segment, as the viewers do) and its rendition_rate rows as it stops.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from streamperf.results.eventlog import schema as ev
from streamperf.results.eventlog.schema import Event
from streamperf.results.eventlog.writer import EventWriter
from streamperf.viewers.abr.rendition import Rendition, rendition_detail

T0 = 1_700_000_000.0  # the run_start row
PLAY_AT, FIRST_AT, SECONDS = 1.0, 2.0, 20  # since T0; samples at FIRST_AT + 1 .. + SECONDS
AUDIO_KBPS = 128.0
CODECS = "avc1.64001f,mp4a.40.2"


@dataclass(frozen=True)
class Rung:
    name: str
    width: int
    height: int
    video_kbps: float
    peak_kbps: int  # the master playlist's BANDWIDTH

    @property
    def kbps(self) -> float:  # what the source row says: video plus the shared audio
        return self.video_kbps + AUDIO_KBPS


LADDER = (
    Rung("720p", 1280, 720, 2400.0, 2640),
    Rung("480p", 854, 480, 1100.0, 1210),
    Rung("240p", 426, 240, 350.0, 385),
)
RUNGS = {r.name: r for r in LADDER}

#: viewer -> protocol, [(seconds since T0, rendition, why)]
PLAYS: dict[str, tuple[str, list[tuple[float, str, str]]]] = {
    "hls1": ("hls", [(1.2, "720p", "start")]),
    "hls2": ("hls", [(1.2, "720p", "start"), (8.0, "480p", "down"), (16.0, "720p", "up")]),
    "dash1": ("dash", [(1.2, "480p", "start"), (10.0, "240p", "emergency")]),
    "rtmp1": ("rtmp", []),
}
FROZEN = {"dash1": range(11, 14)}  # samples whose media did not advance


def _source_detail(r: Rung) -> str:
    return json.dumps(
        {
            "name": r.name,
            "width": r.width,
            "height": r.height,
            "video_kbps": r.video_kbps,
            "audio_kbps": AUDIO_KBPS,
            "codecs": CODECS,
            "frame_rate": 30.0,
            "hls_peak_kbps": float(r.peak_kbps),
            "hls_avg_kbps": r.kbps * 1.04,
            "dash_id": r.name,
        }
    )


def _rendition(r: Rung) -> Rendition:
    return Rendition(
        name=r.name,
        bandwidth=r.peak_kbps * 1000,
        key=r.name,
        resolution=(r.width, r.height),
        codecs=CODECS,
        fps=30.0,
    )


def _held(viewer: str, since_t0: float) -> Rung | None:
    held = None
    for at, name, _ in PLAYS[viewer][1]:
        if at <= since_t0:
            held = RUNGS[name]
    return held


def ladder_rows(ladder: bool = True) -> list[Event]:
    """The run's rows in time order; without `ladder`, the same run with no rendition
    rows and no per-rendition source rows (a plain stream)."""
    rows = [
        Event(T0, "gen1", "", ev.RUN_START, "ladder[run]", 0, "0.1.0", '{"users": 4}'),
        Event(T0, "gen1", "", ev.SOURCE, "bitrate_kbps", LADDER[0].kbps, "file"),
    ]
    if ladder:
        rows += [
            Event(
                T0,
                "gen1",
                "",
                ev.SOURCE,
                f"{ev.SOURCE_RENDITION}{r.name}",
                r.kbps,
                "file",
                _source_detail(r),
            )
            for r in LADDER
        ]
    for viewer, (protocol, switches) in PLAYS.items():
        rows.append(
            Event(
                T0 + PLAY_AT, "gen1", viewer, ev.PLAY, protocol, 0.05, "", f"http://origin/{viewer}"
            )
        )
        if ladder:
            rows += [
                Event(
                    T0 + at,
                    "gen1",
                    viewer,
                    ev.RENDITION,
                    name,
                    float(RUNGS[name].peak_kbps),
                    "",
                    rendition_detail(_rendition(RUNGS[name]), why, None),
                )
                for at, name, why in switches
            ]
        first = T0 + FIRST_AT
        rows += [
            Event(first, "gen1", viewer, ev.FIRST_AUDIO, "", 15.0),
            Event(first, "gen1", viewer, ev.FIRST_VIDEO, "", 15.0),
        ]
        ts, got = 15.0, {}
        for i in range(1, SECONDS + 1):
            frozen = i in FROZEN.get(viewer, ())
            rung = _held(viewer, FIRST_AT + i - 1) or LADDER[0]
            nbytes = 0.0 if frozen else rung.kbps * 1000 / 8
            if not frozen:
                ts += 1.0
                acc = got.setdefault(rung.name, [0.0, 0.0])
                acc[0] += nbytes
                acc[1] += 1.0
            rows += [
                Event(first + i, "gen1", viewer, ev.SAMPLE_BYTES, "1", nbytes),
                Event(first + i, "gen1", viewer, ev.SAMPLE_MEDIA_TS, "", ts),
            ]
        end = first + SECONDS
        if ladder and switches:
            rows += [
                Event(
                    end,
                    "gen1",
                    viewer,
                    ev.RENDITION_RATE,
                    name,
                    b * 8 / s / 1000,
                    "",
                    json.dumps({"bytes": int(b), "media_s": s}),
                )
                for name, (b, s) in got.items()
            ]
        rows.append(Event(end, "gen1", viewer, ev.PLAY_END, protocol, SECONDS + 1.0))
    rows.append(Event(T0 + FIRST_AT + SECONDS + 0.5, "gen1", "", ev.RUN_END, "done"))
    return sorted(rows, key=lambda r: r.t)


def write_ladder_log(path: Path, ladder: bool = True) -> Path:
    """ladder_rows written to `path` (an events.csv) by EventWriter, as a run writes them."""
    with EventWriter(path) as writer:
        writer.write_many(ladder_rows(ladder))
    return path
