"""The LL-HLS viewer against the bundled platform's real LL-HLS origin (nginx-rtmp, the
origin's ffmpeg pull, a real publisher): parts as they are made, blocking reloads of a
part target, latency from PROGRAM-DATE-TIME; a reload storm survived without a spin;
the probe that sends `--play-url` of such a stream to this viewer; and a run by
`--play-url` of the origin started alone with `streamperf platform serve --llhls`."""

from __future__ import annotations

import asyncio
import contextlib
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from streamperf.media.publisher import Publisher
from streamperf.media.server import free_port
from streamperf.platforms.reference.server import ReferencePlatform
from streamperf.platforms.seed.client import PlatformClient
from streamperf.results.eventlog.rows import read_events
from streamperf.viewers.base import VIEWER_ERROR
from streamperf.viewers.llhls.probe import is_low_latency
from streamperf.viewers.llhls.rows import EARLY, LLHLS, PART, PLAYLIST, PRELOAD
from streamperf.viewers.llhls.viewer import LlhlsViewer
from tests.support.direct_runs import run_direct
from tests.support.nested_pytest import run_dirs

pytestmark = [pytest.mark.integration, pytest.mark.realtime]

PLAY_S = 8.0


def _go_live(base_url: str, token: str, clip: Path, run_dir: Path) -> tuple[Publisher, str]:
    """An influencer of the platform at `base_url` live with `clip`: (publisher, stream)."""
    with PlatformClient(base_url, streams_token=token, timeout=5.0) as c:
        inf = c.influencer_sign_in("ll@e.com", "oauth-ll")
        c.create_stream_alerts(inf)
        inf = c.wait_servers_ready(inf, poll_s=0.1, timeout_s=5)
        ingest = c.ingest_url(inf)
        c.start_streaming(inf)
    return Publisher(clip, ingest, run_dir), f"{inf.username}_source"


def _wait_parts(url: str, timeout: float = 20.0) -> None:
    """Until the origin's playlist lists a few parts (its pull is up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=5) as r:
            if r.read().decode().count("#EXT-X-PART:") >= 4:
                return
        time.sleep(0.3)
    raise AssertionError(f"no parts at {url} within {timeout:g} s")


@contextlib.contextmanager
def _live(workdir: Path, clip: Path, mode: str) -> Iterator[tuple[ReferencePlatform, str]]:
    with ReferencePlatform(workdir, llhls=mode) as p:
        pub, stream = _go_live(p.base_url, p.streams_token, clip, workdir / "pub")
        pub.start(ready=lambda: p.media.is_publishing(stream))
        try:
            url = f"{p.base_url}/llhls/{stream}/index.m3u8"
            _wait_parts(url)
            yield p, url
        finally:
            pub.stop()


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory, clip: Path) -> Iterator[tuple[
        ReferencePlatform, str]]:
    with _live(tmp_path_factory.mktemp("llhls"), clip, "on") as live:
        yield live


@dataclass
class Played:
    viewer: LlhlsViewer
    seconds: float
    errors: list[tuple[str, str]] = field(default_factory=list)
    rows: list[tuple[str, float, str]] = field(default_factory=list)  # (name, value, detail)
    latencies: list[float] = field(default_factory=list)  # s, now - PDT of the newest media
    media: list[tuple[float, int]] = field(default_factory=list)  # (wall, media ms)

    def total(self, name: str) -> float:
        return sum(v for n, v, _ in self.rows if n == name)

    def waits(self) -> list[float]:
        return [int(w) / 1000 for n, _, d in self.rows if n == "wait" for w in d.split(",")]


def _play(url: str, seconds: float = PLAY_S) -> Played:
    async def main() -> Played:
        got: Played

        def on_event(kind: str, name: str, value: float, detail: str) -> None:
            if kind == VIEWER_ERROR:
                got.errors.append((name, detail))

        v = LlhlsViewer(url, on_event)
        got = Played(v, seconds)

        async def sample() -> None:  # as the shard's sampler does, once a second
            while True:
                await asyncio.sleep(1.0)
                got.rows += [(n, value, d) for kind, n, value, d in v.window_rows()
                             if kind == LLHLS]
                if v.media_wallclock is not None:
                    got.latencies.append(time.time() - v.media_wallclock)
                got.media.append((time.time(), v.media_ts_ms))

        task = asyncio.create_task(sample())
        await v.run(seconds)
        task.cancel()
        got.rows += [(n, value, d) for _, n, value, d in v.window_rows()]
        return got

    return asyncio.run(main())


def test_parts_are_fetched_as_made_each_reload_blocking_about_a_part_target(origin):
    _, url = origin
    got = _play(url)
    assert got.errors == []
    v = got.viewer
    part_s = v.pl.part_target
    parts = got.total(PART) + got.total(PRELOAD)
    # The live edge's pace (a part a part target), asked mostly by preload hint.
    assert parts >= 0.8 * PLAY_S / part_s, got.rows
    assert got.total(PRELOAD) >= 0.6 * parts, got.rows
    # One blocking reload per part, each held until its part is made: about a part target
    # (the first ones, for parts already made, are answered at once).
    waits = sorted(got.waits())
    median = waits[len(waits) // 2]
    assert 0.5 * part_s <= median <= 1.5 * part_s, waits
    assert got.total(PLAYLIST) <= 2 * PLAY_S / part_s + 2
    assert got.total(EARLY) == 0
    # Media in step with the wall clock, and near the capture clock.
    (t0, m0), (t1, m1) = got.media[1], got.media[-1]
    assert abs((m1 - m0) / 1000 - (t1 - t0)) < 0.8, got.media
    assert max(got.latencies) < 1.0, got.latencies
    print(f"\nLL-HLS viewer {PLAY_S:g} s: parts {parts:.0f} ({got.total(PRELOAD):.0f} by preload "
          f"hint), playlists {got.total(PLAYLIST):.0f}, blocking wait median {median:.3f} s "
          f"(part target {part_s} s), latency at receipt {min(got.latencies):.2f}-"
          f"{max(got.latencies):.2f} s")


def test_the_probe_tells_ll_hls_from_plain_hls(origin):
    platform, url = origin
    assert is_low_latency(url)
    stream = url.rsplit("/", 2)[-2]
    assert not is_low_latency(platform.media.hls_url(stream))  # nginx's plain HLS of it
    assert not is_low_latency(f"{platform.base_url}/llhls/nobody_source/index.m3u8")


def test_a_reload_storm_is_named_and_the_viewer_does_not_spin(tmp_path, clip):
    with _live(tmp_path, clip, "storm") as (_, url):
        got = _play(url, 6.0)
    v = got.viewer
    part_s = v.pl.part_target
    assert [n for n, _ in got.errors] == ["reload_storm"], got.errors
    assert "answered at once" in got.errors[0][1]
    # At most two playlist requests a part target, and the media still played on.
    assert got.total(PLAYLIST) <= 2 * 6.0 / part_s + 2, got.rows
    assert got.total(EARLY) >= 5
    assert got.media[-1][1] - got.media[1][1] > 3000, got.media
    print(f"\nstorm: {got.total(PLAYLIST):.0f} playlist requests in 6 s "
          f"({got.total(PLAYLIST) * part_s / 6.0:.2f} a part target), "
          f"{got.total(EARLY):.0f} answered at once")


@pytest.mark.own_pytest
@pytest.mark.parametrize("flag", ["--llhls", "--llhls-storm"])
def test_play_url_of_the_origin_served_alone(tmp_path, clip, flag):
    """`streamperf platform serve --llhls`, an ffmpeg publishing to it, and a perf run of
    `--play-url` its LL-HLS playlist: the LL-HLS viewers play it, and it passes; served
    with `--llhls-storm` (blocking reloads answered at once) the run fails naming it."""
    port = free_port()
    serve = subprocess.Popen(
        [sys.executable, "-m", "streamperf.cli", "platform", "serve", flag,
         "--port", str(port), "--workdir", str(tmp_path / "platform")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    pub = None
    try:
        lines: list[str] = []
        assert serve.stdout is not None
        for line in serve.stdout:
            lines.append(line)
            if line.startswith("Ctrl-C"):
                break
        text = "".join(lines)
        token = re.search(r"streams API token: (\S+)", text)
        assert token is not None, text
        base = f"http://127.0.0.1:{port}"
        pub, stream = _go_live(base, token.group(1), clip, tmp_path / "pub")
        pub.start()
        url = f"{base}/llhls/{stream}/index.m3u8"
        assert f"{base}/llhls/<username>_source/index.m3u8" in text
        _wait_parts(url)
        reports = tmp_path / "reports"
        proc, summaries = run_direct(reports.parent, "--play-url", url, "--users", "10",
                                     "--duration", "10s", "-k", "steady")
        out = proc.stdout[-3000:]
        assert summaries and summaries[0]["metrics"]["viewers_with_media"] == 10, out
        rows = read_events(run_dirs(reports)[0] / "events.csv")
        played = set(rows.loc[rows["event"] == "play", "name"])
        assert played == {"llhls"}, played
        assert (rows["event"] == LLHLS).sum() > 0
        storm = rows[(rows["event"] == VIEWER_ERROR) & (rows["name"] == "reload_storm")]
        if flag == "--llhls":
            assert proc.returncode == 0, out
            assert storm.empty
        else:
            assert proc.returncode == 1, out
            assert "FAIL" in out and "reload_storm" in out, out
            assert storm["viewer"].nunique() == 10
            print(f"\n{out[-1500:]}")
    finally:
        if pub is not None:
            pub.stop()
        serve.terminate()
        try:
            serve.wait(15)
        except subprocess.TimeoutExpired:
            serve.kill()
            serve.wait()
