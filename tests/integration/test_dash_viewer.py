"""DashViewer on a live DASH stream: ffmpeg's DASH muxer fed `-re` from the clip, in
both template forms ($Number$ with @duration, $Time$ on a SegmentTimeline), served
by an aiohttp static server on 127.0.0.1 (its own thread) that also answers the
MPD's UTCTiming. One live stack for the module; each form played for PLAY_S.

Truths the viewer is held to: media time advancing in real time; its bitrate
against ffprobe's reading of the segments it fetched; its latency (from
availabilityStartTime + media time) against the publish clock T0, the moment
ffmpeg was started on the clip.
"""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web

from streamperf.media.processes import terminate
from streamperf.results.analysis.latency import AVAILABILITY
from streamperf.viewers.base import CLOCK, FIRST_AUDIO, FIRST_VIDEO
from streamperf.viewers.dash.viewer import DashViewer
from tests.support.dash_media import dash_command
from tests.support.loops import RunLoop
from tests.support.nested_pytest import run_perf, summaries

pytestmark = [pytest.mark.integration, pytest.mark.realtime]

FORMS = ("number", "time")
PLAY_S = 8.0
WARMUP_S = 5.0  # two segments out before a viewer joins


@dataclass
class LiveDash:
    base: str  # http://127.0.0.1:PORT
    dirs: dict[str, Path]
    t0: dict[str, float]  # per form: when its ffmpeg was started (media time 0)


async def _now(request: web.Request) -> web.Response:
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return web.Response(text=now)


@pytest.fixture(scope="module")
def live(clip: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveDash]:
    root = tmp_path_factory.mktemp("dash-live")
    dirs = {form: root / form for form in FORMS}
    for d in dirs.values():
        d.mkdir()
    app = web.Application()
    app.router.add_get("/time", _now)
    app.router.add_static("/", root)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, access_log=None)
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", 0).start())
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    procs, t0 = [], {}
    try:
        for form, d in dirs.items():
            cmd = dash_command(clip, d / "live.mpd", form == "time", live=True, window=5,
                               utc_url=f"{base}/time", streaming=False)
            t0[form] = time.time()
            procs.append(subprocess.Popen(cmd, stderr=subprocess.DEVNULL))
        time.sleep(WARMUP_S)
        yield LiveDash(base, dirs, t0)
    finally:
        for p in procs:
            terminate(p, grace=5.0)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.run_until_complete(runner.cleanup())
        loop.close()


def ffprobe_kbps(files: list[Path], into: Path) -> float:
    """ffprobe's bitrate of init + media segments as one file: its packets' bytes over
    the media time they span."""
    into.write_bytes(b"".join(p.read_bytes() for p in files))
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries",
                          "packet=pts_time,duration_time,size", "-of", "csv=p=0", str(into)],
                         capture_output=True, text=True, check=True).stdout
    packets = [line.split(",") for line in out.split()]
    pts = [float(p[0]) for p in packets]
    span = max(pts) + float(packets[pts.index(max(pts))][1]) - min(pts)
    return sum(int(p[2]) for p in packets) * 8 / 1000 / span


@dataclass
class Played:
    viewer: DashViewer
    rows: list[tuple]
    asked: list[str]
    samples: list[tuple[float, int, float | None]]  # wall, media ts, media wallclock


async def play(url: str) -> Played:
    got = Played(DashViewer(url, lambda *r: got.rows.append(r), on_request=lambda u: got.asked.append(u)), [], [], [])  # noqa: E501
    task = asyncio.ensure_future(got.viewer.run(PLAY_S))
    while not task.done():
        await asyncio.sleep(0.25)
        v = got.viewer
        got.samples.append((time.time(), v.media_ts_ms, v.media_wallclock))
    await task
    return got


def test_plays_live_dash_in_real_time_at_the_representations_bitrate(
        live: LiveDash, run_loop: RunLoop, tmp_path: Path) -> None:  # fmt: skip
    async def both() -> list[Played]:
        return list(await asyncio.gather(*(play(f"{live.base}/{f}/live.mpd") for f in FORMS)))

    for form, got in zip(FORMS, run_loop(both()), strict=True):
        check(form, got, live, tmp_path / form)


def check(form: str, got: Played, live: LiveDash, tmp: Path) -> None:
    v, rows, samples = got.viewer, got.rows, got.samples
    names = list(dict.fromkeys(u.rsplit("/", 1)[1] for u in got.asked if u.endswith(".m4s")))
    copies = {n: (live.dirs[form] / n).read_bytes() for n in names}  # before they expire
    assert not [r for r in rows if r[0] == "error"], (form, rows)
    kinds = [r[0] for r in rows]
    assert kinds.count(FIRST_VIDEO) == 1 and kinds.count(FIRST_AUDIO) == 1
    clock = next(r for r in rows if r[0] == CLOCK)
    assert clock[1] == "utc_timing" and abs(clock[2]) < 0.1, clock
    # media time moves in real time (give or take one 2 s segment) and never back
    (w0, m0, _), (w1, m1, _) = samples[8], samples[-1]
    assert (m1 - m0) / 1000 == pytest.approx(w1 - w0, abs=2.3), form
    assert all(a[1] <= b[1] for a, b in itertools.pairwise(samples))
    # latency from the availability timeline = latency from the publish clock
    t0 = live.t0[form]
    for wall, ts, captured in samples[8:]:
        assert captured is not None
        assert (wall - captured) == pytest.approx(wall - (t0 + ts / 1000), abs=0.5), form
        assert -0.2 < wall - captured < 4.5, form
    # bitrate: bytes over media time, against ffprobe's reading (its packets' bytes);
    # audio's fMP4 boxes (a trun entry per 23 ms frame) are 3-4 % of its few bytes
    tmp.mkdir()
    ours, probed = {}, {}
    for track, rep in ((v.video, "0"), (v.audio, "1")):
        segs = [n for n in names if n.startswith(f"chunk-{rep}-")]
        assert len(segs) == track.segments_fetched >= 3, (form, segs)
        for n in segs:
            (tmp / n).write_bytes(copies[n])
        files = [live.dirs[form] / f"init-stream{rep}.m4s", *(tmp / n for n in segs)]
        probed[rep] = ffprobe_kbps(files, tmp / f"rep{rep}.mp4")
        first = next(r for r in rows if r[0] == (FIRST_VIDEO if rep == "0" else FIRST_AUDIO))
        ours[rep] = track.bytes * 8 / 1000 / (track.media_ts_ms / 1000 - first[2])
    assert ours["0"] == pytest.approx(probed["0"], rel=0.03), (form, ours, probed)
    assert ours["1"] == pytest.approx(probed["1"], rel=0.05), (form, ours, probed)
    assert sum(ours.values()) == pytest.approx(sum(probed.values()), rel=0.03), form


@pytest.mark.own_pytest(slots=2)  # 200 viewers judged on stalls and bitrate: alone
def test_two_hundred_viewers_of_both_template_forms_by_play_url(
        live: LiveDash, tmp_path: Path) -> None:  # fmt: skip
    # issue 22's done-when, as a user runs it: the perf scenarios on MPDs streamperf did
    # not publish, 200 fans spread round-robin over the $Number$ and $Time$ forms
    reports = tmp_path / "reports"
    proc = run_perf(reports, "-q", "-k", "steady_audience", "--calibration", "0",
                    *(a for f in FORMS for a in ("--play-url", f"{live.base}/{f}/live.mpd")),
                    "--users", "200", "--ramp", "10ms", "--duration", "15s", timeout=240)
    out = proc.stdout[-3000:] + proc.stderr[-2000:]
    [s] = summaries(reports)
    m = s["metrics"]
    print(f"200 DASH viewers: {s['verdict']['word']} {s['breaches']}; mean "
          f"{m['mean_kbps']:.0f} kbps, min ratio {m['min_bitrate_ratio']:.3f}, latency p50 "
          f"{m['latency_p50_s']:.2f} s p95 {m['latency_p95_s']:.2f} s, startup p95 "
          f"{m['startup_p95_s']:.2f} s, stalls {m['stalls']}")
    assert proc.returncode == 0 and s["verdict"]["word"] == "PASS", out
    assert m["viewers_with_media"] == 200 and m["viewer_errors"] == 0, m
    # the bitrate the viewers measured against ffprobe's reading of the segments (video
    # and audio) that were on the origin: the source figure is the viewers' own median
    # here (no source row), so each viewer is held to it and the median to ffprobe
    probe = tmp_path / "probe"
    probe.mkdir()
    probed = 0.0
    for rep in ("0", "1"):
        segs = sorted((live.dirs["number"]).glob(f"chunk-{rep}-*.m4s"))[-4:]
        files = [live.dirs["number"] / f"init-stream{rep}.m4s", *segs]
        probed += ffprobe_kbps(files, probe / f"rep{rep}.mp4")
    assert m["mean_kbps"] == pytest.approx(probed, rel=0.03), (m["mean_kbps"], probed)
    assert m["min_bitrate_ratio"] > 0.9, m
    assert m["latency_basis"] == AVAILABILITY and 0 < m["latency_p50_s"] < 4.5, m
