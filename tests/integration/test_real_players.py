"""Truth against the real players (issue 22, part 7): hls.js and dash.js in headless
Chromium on a live three-rendition ladder, uncapped and behind a 1.6 Mbit/s cap, and
streamperf's ABR viewers held to what they did.

The ladder (tests/support/live_ladder.py: 2400k 720p, 1100k 480p, 350k 240p, 2 s
segments, HLS and DASH from one ffmpeg) is served on a port of its own; a cap on
that port (tc htb on lo) caps every player of it. Each capped player plays alone,
one after another, so each has the whole 1.6 Mbit/s: room for the 1.1 Mbps
rendition, not the 2.4. What the players report (tests/support/real_players.py)
is printed: those figures go into docs/metrics.md.

Needs Chromium (/usr/bin/chromium), hls.js and dash.js in .players/
(scripts/setup.sh), ffmpeg, root and tc.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.live_ladder import LADDER, LiveLadder
from tests.support.lo_shaping import LoBusy, shaping_lo, why_no_shaping
from tests.support.lone_viewer import LoneRun, play_alone
from tests.support.real_players import PLAYERS, PlayerReport, play, why_no_players

# Chromium decodes and composites the video in software (about a fifth of a core
# for 720p here) and the players' choices turn on their download timings, so a
# saturated machine would change what they choose: `quiet` takes one of the CPU
# slots (tests/integration/conftest.py), so at most one test's own pytest runs
# beside it. Not `own_pytest`: it starts no pytest, and a phase of its own would
# be a poor fit for a module that waits on real time for three minutes.
pytestmark = [pytest.mark.integration, pytest.mark.realtime, pytest.mark.quiet]

CAP_KBIT = 1600  # room for 1100k video + 96k audio + TS/TCP overhead, not for 2400k
UNCAPPED_S = 20.0
CAPPED_S = 32.0  # "the rendition held after 30 s" is read at 30 s
HELD_AT_S = 30.0
HEIGHTS = sorted(r.height for r in LADDER)  # the ladder's steps, lowest first
TOP, MIDDLE, BOTTOM = (r.height for r in LADDER)


def _unavailable(why: str) -> None:
    # scripts/setup.sh installs every part, so CI (which runs it) must not skip quietly
    (pytest.fail if os.environ.get("CI") else pytest.skip)(why)


@pytest.fixture(scope="module")
def ladder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveLadder]:
    why = why_no_players() or why_no_shaping()
    if why:
        _unavailable(why)
    with LiveLadder.running(tmp_path_factory.mktemp("ladder")) as live:
        yield live


class Played:
    """Each real player's run, made on first use (inside the test that asks, so inside
    its CPU slot) and kept for the module: the comparison reads the capped runs the
    real players' own tests made, instead of playing them again."""

    def __init__(self, ladder: LiveLadder, tmp: pytest.TempPathFactory) -> None:
        self.ladder = ladder
        self.tmp = tmp
        self.runs: dict[tuple[str, bool], PlayerReport] = {}

    def url(self, player: str) -> str:
        return self.ladder.master_url if player == "hls.js" else self.ladder.mpd_url

    def get(self, player: str, capped: bool) -> PlayerReport:
        key = (player, capped)
        if key not in self.runs:
            workdir = self.tmp.mktemp(f"{player}-{'capped' if capped else 'uncapped'}")
            if capped:
                with capped_ladder(self.ladder):
                    report = play(self.url(player), player, CAPPED_S, workdir)
            else:
                report = play(self.url(player), player, UNCAPPED_S, workdir)
            print(f"\n{'capped' if capped else 'uncapped'}: {report.summary()}")
            self.runs[key] = report
        return self.runs[key]


@contextlib.contextmanager
def capped_ladder(ladder: LiveLadder) -> Iterator[None]:
    """The ladder's port capped at CAP_KBIT while the block runs (lo's caps in turn)."""
    with contextlib.ExitStack() as stack:
        try:
            shaper = stack.enter_context(shaping_lo())
        except LoBusy as e:
            pytest.skip(str(e))
        shaper.cap(ladder.port, CAP_KBIT)
        yield


@pytest.fixture(scope="module")
def played(ladder: LiveLadder, tmp_path_factory: pytest.TempPathFactory) -> Played:
    return Played(ladder, tmp_path_factory)


def _played_s(report: PlayerReport) -> float:
    """Media time it played from its first `playing` to its last sample."""
    playing = [s for s in report.samples if report.startup_s is not None
               and s.t_s >= report.startup_s]
    return playing[-1].position_s - playing[0].position_s if len(playing) > 1 else 0.0


# --- (a) uncapped ------------------------------------------------------------------

def test_uncapped_hlsjs_starts_on_the_top_rendition_and_plays_without_a_stall(
        played: Played) -> None:
    r = played.get("hls.js", capped=False)
    assert r.version == PLAYERS["hls.js"][1] and not r.fatal_errors, r.summary()
    assert r.startup_s is not None and r.startup_s < 3, r.summary()
    assert r.stalls == [], r.summary()
    assert r.latency_s is not None and r.latency_s > 0, r.summary()
    assert r.held is not None and r.held.height == TOP, r.summary()


def test_uncapped_dashjs_starts_and_reports_its_latency(played: Played) -> None:
    r = played.get("dash.js", capped=False)
    assert r.version == PLAYERS["dash.js"][1] and not r.fatal_errors, r.summary()
    assert r.startup_s is not None and r.startup_s < 3, r.summary()
    assert r.latency_s is not None and r.latency_s > 0, r.summary()
    # Not "no stall": at its defaults dash.js plays `suggestedPresentationDelay` behind
    # the edge, which ffmpeg's DASH muxer sets to one segment (PT2S), while a segment is
    # listed only once it is whole and the MPD refreshed every 2 s: its buffer runs dry
    # now and then, uncapped too. That is what a site embedding it on this MPD gets;
    # it must still play on.
    assert _played_s(r) > UNCAPPED_S / 2, r.summary()


# --- (b) capped at 1.6 Mbit/s ------------------------------------------------------

def test_capped_hlsjs_steps_down_to_1100k_and_holds_it(played: Played) -> None:
    r = played.get("hls.js", capped=True)
    assert not r.fatal_errors, r.summary()
    # hls.js starts on the master playlist's first variant, with no estimate yet
    assert r.start is not None and r.start.height == TOP, r.summary()
    downs = [s for s in r.switches if s.rendition.height == MIDDLE]
    assert downs, r.summary()
    down = downs[0]
    after = [s for s in r.switches if s.t_s > down.t_s]
    assert after == [], f"it did not hold {MIDDLE}p: {r.summary()}"
    assert [s for s in r.stalls if s.t_s >= down.t_s] == [], r.summary()
    assert r.bandwidth_kbps is not None
    print(f"hls.js capped: start {r.start} (startup {r.startup_s:.2f} s), down to "
          f"{down.rendition} at {down.t_s:.1f} s, estimate {r.bandwidth_kbps:.0f} kbps, "
          f"latency {r.latency_s:.2f} s, stalls {len(r.stalls)}")


def test_capped_dashjs_starts_low_and_settles_below_the_cap(played: Played) -> None:
    r = played.get("dash.js", capped=True)
    assert not r.fatal_errors, r.summary()
    # no estimate yet: dash.js starts from its 1000 kbps default, below the middle
    assert r.start is not None and r.start.height == BOTTOM, r.summary()
    settled = r.rendition_at(HELD_AT_S)
    assert settled is not None and settled.height != TOP, r.summary()
    assert _played_s(r) > CAPPED_S / 2, r.summary()
    print(f"dash.js capped: start {r.start} (startup {r.startup_s:.2f} s), switches "
          f"{[(round(s.t_s, 1), s.rendition.height) for s in r.switches]}, settled on "
          f"{settled} at {HELD_AT_S:g} s, estimate {r.bandwidth_kbps or 0:.0f} kbps, "
          f"latency {r.latency_s or 0:.2f} s, stalls "
          f"{[(round(s.t_s, 1), round(s.duration_s, 1)) for s in r.stalls]}")


# --- (c) streamperf's viewers beside them --------------------------------------------

def _viewer_with_abr(module: str, cls: str, mode: str, url: str
                     ) -> Callable[[Any], Any]:
    """A factory of streamperf's viewer in `mode`; skips while it has no ABR yet."""
    mod = pytest.importorskip(module, reason=f"{module} is not there yet")
    viewer = getattr(mod, cls, None)
    if viewer is None or "abr" not in inspect.signature(viewer).parameters:
        pytest.skip(f"{module}.{cls} takes no abr= mode yet (issue 22: --abr {mode})")
    return lambda on_event: viewer(url, on_event, abr=mode)


def _height(run: LoneRun, t_s: float) -> int | None:
    held = run.rendition_at(t_s)
    if held is None:
        return None
    res = str(held.detail.get("res", ""))
    return int(res.split("x")[1]) if "x" in res else int(held.name.rstrip("p"))


def _agree(real: PlayerReport, ours: LoneRun) -> list[str]:
    """Issue 22's agreement on what the ABR rules decide, what breaks it (empty: they
    agree): the rendition held and whether playback stalled."""
    broken = []
    theirs = real.rendition_at(HELD_AT_S)
    mine = _height(ours, HELD_AT_S)
    if theirs is None or mine is None or \
            abs(HEIGHTS.index(theirs.height) - HEIGHTS.index(mine)) > 1:
        broken.append(f"held at {HELD_AT_S:g} s: {theirs} against {mine}p")
    if bool(real.stalls) != bool(ours.stalls):
        broken.append(f"stalls {len(real.stalls)} against {ours.stalls}")
    return broken


def _timing_gap(real: PlayerReport, ours: LoneRun) -> list[str]:
    """Startup and latency more than 1 s apart. A known gap, not yet closed: a player
    counts startup to its `playing` event (the first segment whole, appended) and
    latency at its playhead (a buffer behind); streamperf counts to the first video
    bytes and from the newest media received (docs/metrics.md, Ladders)."""
    gap = []
    if real.startup_s is None or ours.startup_s is None or \
            abs(real.startup_s - ours.startup_s) > 1:
        gap.append(f"startup {real.startup_s} s against {ours.startup_s} s")
    if real.latency_s is None or ours.latency_s is None or \
            abs(real.latency_s - ours.latency_s) > 1:
        gap.append(f"latency {real.latency_s} s against {ours.latency_s} s")
    return gap


def _compare(played: Played, player: str, make: Callable[[Any], Any],
             tmp_path: Path) -> None:
    real = played.get(player, capped=True)
    with capped_ladder(played.ladder):  # alone behind the cap, after the real player
        ours = asyncio.run(play_alone(make, CAPPED_S, tmp_path))
    print(f"\n{player} capped: {real.summary()}\nstreamperf beside it: {ours.summary()}")
    assert ours.errors == [], ours.summary()
    broken = _agree(real, ours)
    assert broken == [], f"streamperf and {player} disagree: {'; '.join(broken)}"
    gap = _timing_gap(real, ours)
    if gap:  # the renditions and stalls agree (asserted above); the timing definitions not yet
        pytest.xfail(f"startup/latency defined at the received media, not the playhead: "
                     f"{'; '.join(gap)}")


def test_the_hlsjs_viewer_agrees_with_hlsjs_under_the_cap(played: Played,
                                                          tmp_path: Path) -> None:
    make = _viewer_with_abr("streamperf.viewers.hls.viewer", "HlsViewer", "hlsjs",
                            played.ladder.master_url)
    _compare(played, "hls.js", make, tmp_path)


def test_the_dashjs_viewer_agrees_with_dashjs_under_the_cap(played: Played,
                                                            tmp_path: Path) -> None:
    make = _viewer_with_abr("streamperf.viewers.dash.viewer", "DashViewer", "dashjs",
                            played.ladder.mpd_url)
    _compare(played, "dash.js", make, tmp_path)
