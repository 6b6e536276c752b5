"""The verdict at a glance: one tile per figure the verdict turns on.

Viewers with media, startup p95, lagged, bitrate ratio, stalls and errors (and
the LL-HLS origin load, for a run with LL-HLS viewers), each with the judge's
checks on its metrics (held, breached, not applicable), then a tile for any
other check or breach. States are read off
the Verdict (results/judging/judge.py): a tile is red because the judge listed its
check among the breaches, never because a figure was compared here.

This module decides what each tile says; templates/macros.html lays it out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from streamperf.results.formatting import figure

if TYPE_CHECKING:
    from streamperf.results.analysis.figures import Analysis
    from streamperf.results.judging.judge import Verdict


#: The figures a verdict turns on, one tile each: (id, label, SLA metrics shown on it).
#: A check on any other metric, and a baseline regression, gets a tile of its own.
TILES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("media", "viewers with media", ("got_media", "media_s", "watched_s", "connected")),
    ("startup", "startup p95", ("startup_s",)),
    ("lagged", "lagged", ("lagged", "lagged_pct", "drift_s")),
    ("bitrate", "bitrate ratio", ("bitrate_ratio", "mean_kbps")),
    ("stalls", "stalls", ("stalls", "stall_s", "rebuffer_ratio")),
    ("errors", "errors", ("errors", "disconnects", "api_errors")),
    # only for a run with LL-HLS viewers (or a check on them that breached)
    ("origin", "LL-HLS origin load", ("requests_rps_per_viewer", "playlist_rps_per_viewer",
                                      "llhls_block_wait_s", "llhls_early_ratio")),
)
HELD, BREACHED, NOT_APPLICABLE = "held", "breached", "not-applicable"  # data-state values
# A tile takes the state of its most telling check.
_RANK = {BREACHED: 3, HELD: 2, NOT_APPLICABLE: 1}
_MARKS = {HELD: ("✓ held", "sp-held"), BREACHED: ("✗ breached", "sp-breached"),
          NOT_APPLICABLE: ("not applicable", "sp-na")}


@dataclass(frozen=True)
class TileCheck:
    """One of the judge's checks on a tile: its expression, state and what was measured."""

    expr: str
    state: str
    measured: str

    @property
    def code(self) -> str:
        return _unbroken_limit(self.expr)

    @property
    def mark(self) -> str:
        return _MARKS[self.state][0]

    @property
    def css(self) -> str:
        return _MARKS[self.state][1]


@dataclass
class Tile:
    """One tile: its figure and the line under it, then the judge's checks on its metrics."""

    key: str
    label: str
    figure: str
    sub: str = ""
    checks: list[TileCheck] = field(default_factory=list)

    @property
    def state(self) -> str:
        return max((c.state for c in self.checks), key=_RANK.__getitem__, default="")

    @property
    def data_state(self) -> str:
        return self.state or "none"

    @property
    def css(self) -> str:
        """The tile's classes: its state's colour, none without a check."""
        shade = {HELD: " sp-tile-held", BREACHED: " sp-tile-breached"}.get(self.state, "")
        return "sp-tile" + shade


def _tile_figures(a: Analysis) -> dict[str, tuple[str, str]]:
    """Tile id -> (figure, the line under it), from the summary the tables show."""
    s = a.summary()
    with_media, planned = s["viewers_with_media"], s["viewers_planned"]
    aborted = f" · {s['viewers_aborted']:,} aborted" if s["viewers_aborted"] else ""
    ratio = s["min_bitrate_ratio"]
    source = (f"mean {figure(s['mean_kbps'], 'mean_kbps')}, "
              f"source {figure(s['source_kbps'], 'kbps')}"
              + (" (measured)" if s.get("source_kbps_basis") == "measured" else "")
              if s["source_kbps"] else "source bitrate unknown")
    api = (f"{s['api_errors']:,} of {s['api_calls']:,} API calls failed" if s["api_calls"]
           else "no API calls")
    return {
        "media": (f"{with_media:,} of {planned:,}", f"viewers got video{aborted}"),
        "startup": (figure(s["startup_p95_s"], "startup_p95_s"),
                    f"p50 {figure(s['startup_p50_s'], 'startup_p50_s')}"),
        "lagged": (f"{s['viewers_lagged']:,}",
                   f"viewers drifted over {a.lag_threshold_s:g} s at some point · max "
                   f"{figure(s['max_drift_s'], 'max_drift_s')}"),
        "bitrate": ("–" if ratio is None else f"{ratio:.2f}", f"lowest viewer · {source}"),
        "stalls": (f"{s['stalls']:,}", f"{s['viewers_with_stalls']:,} viewers stalled"),
        # Viewer and API errors both count: either can fail the run.
        "errors": (f"{s['viewer_errors'] + s['api_errors']:,}",
                   f"{s['viewer_errors']:,} viewer errors ({s['disconnects']:,} disconnects)"
                   f" · {api}"),
        "origin": _origin_figures(s),
    }


def _origin_figures(s: Mapping[str, Any]) -> tuple[str, str]:
    """The LL-HLS tile: requests a second per viewer; block wait p95, early answers."""
    if not s.get("llhls_viewers"):
        return "–", "no LL-HLS viewers"
    return (f"{figure(s['llhls_rps_per_viewer'])} req/s",
            f"per viewer (mean) · block wait p95 "
            f"{figure(s['llhls_block_wait_p95_s'], 'llhls_block_wait_p95_s')} · "
            f"{figure(s['llhls_early'])} of {figure(s['llhls_blocked'])} answered early")


def verdict_tiles(a: Analysis, verdict: Verdict) -> list[Tile]:
    """The six tiles (seven with LL-HLS viewers), each with the judge's checks on its
    metrics, then a tile per other check or breach. States are read off the verdict:
    breached if the judge listed it."""
    from streamperf.results.judging.sla import SlaError, parse

    figures = _tile_figures(a)
    tiles = [Tile(key, label, *figures[key]) for key, label, _ in TILES]
    by_metric = {m: t for t, (_, _, metrics) in zip(tiles, TILES, strict=True) for m in metrics}
    breached = {b.check: b for b in verdict.breaches}
    extra: list[Tile] = []
    for check in verdict.checks:
        th = check.threshold
        b = breached.pop(th.text, None)
        state = BREACHED if b else HELD if check.passed else NOT_APPLICABLE
        if state == NOT_APPLICABLE and check.absent:
            continue  # a default over what the run has none of: nothing to show
        line = TileCheck(th.text, state,
                         check.worst if state == NOT_APPLICABLE else check.measured_text)
        tile = by_metric.get(th.metric)
        if tile is None:
            shown = "no data" if check.measured is None else th.show(check.measured)
            tile = Tile("check", f"{th.func}({th.metric})", shown)
            extra.append(tile)
        tile.checks.append(line)
    # Breaches without a check: baseline regressions, or a verdict read back from JSON.
    for b in breached.values():
        try:
            tile = by_metric.get(parse(b.check).metric)
        except SlaError:
            tile = None
        if tile is None:
            tile = Tile("breach", b.check, b.measured)
            extra.append(tile)
            b_line = TileCheck(f"limit {b.limit}", BREACHED, "")
        else:
            b_line = TileCheck(b.check, BREACHED, b.measured)
        tile.checks.append(b_line)
    # The LL-HLS tile only where it says something: LL-HLS viewers, or a check on them.
    has_origin = getattr(a, "origin", None) is not None
    tiles = [t for t in tiles if t.key != "origin" or t.checks or has_origin]
    return tiles + extra


def _unbroken_limit(expr: str) -> str:
    """`p95(startup_s) < 0.2` wraps before the operator, not between it and the limit."""
    return re.sub(r"\s*(<=|>=|==|!=|<|>)\s*", lambda m: f" {m.group(1)}\u00a0", expr, count=1)


def tiles_html(a: Analysis, verdict: Verdict) -> str:
    """The tiles as HTML, styled by the report's stylesheet (`.sp-tile`, `.sp-checks`)."""
    from streamperf.results.report.templating import render

    return render("tiles.html", tiles=verdict_tiles(a, verdict))
