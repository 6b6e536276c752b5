"""hls.js and dash.js playing a URL in headless Chromium, and what they report of it.

The truth streamperf's ABR viewers are held to (issue 22, part 7): a player
as a site embeds it (hls.js with low-latency mode off, dash.js with its
defaults) on a small page that a loopback aiohttp server serves with the
player's JS (scripts/setup.sh pins both into `.players/`, or
`$STREAMPERF_PLAYERS_DIR`). The page posts the players' own events back to
that server: renditions switched to (hls.js LEVEL_SWITCHED, dash.js
QUALITY_CHANGE_RENDERED: both fire when the new rendition plays, not when it
is asked for), the video element's `playing` and `waiting`, the players'
errors, and every 0.5 s their latency (`hls.latency`,
`getCurrentLiveLatency()`) and bandwidth estimate (`hls.bandwidthEstimate`,
`getAverageThroughput('video')`). Times are seconds from the play request.

Chromium runs without GPU, muted with autoplay allowed, with a profile in the
run's directory, resolving no host name (only 127.0.0.0/8 is reached), and is
stopped by its PID (its process group, so its renderers go with it).

    report = play(ladder.master_url, "hls.js", seconds=20, workdir=tmp_path)
    report.startup_s, report.start, report.held, report.stalls, report.latency_s
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from streamperf.media.processes import popen
from tests.support.loopback_servers import app_on_thread

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
# player: (npm package, the version scripts/setup.sh pins, the script the page loads)
PLAYERS = {
    "hls.js": ("hls.js", "1.5.20", "dist/hls.min.js"),
    "dash.js": ("dashjs", "4.7.4", "dist/dash.all.min.js"),
}
SAMPLE_S = 0.5
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--mute-audio",
    "--autoplay-policy=no-user-gesture-required",
    # a page in a headless window counts as hidden: its timers and media would be throttled
    "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
    # nothing but loopback: no Google services, and no host name resolves
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--no-pings", "--disable-quic",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    # its crash handler would run in a process group of its own, outliving a stop by PID
    "--disable-crash-reporter", "--disable-breakpad",
]  # fmt: skip


def players_dir() -> Path:
    env = os.environ.get("STREAMPERF_PLAYERS_DIR")
    return Path(env) if env else ROOT / ".players"


def player_script(player: str) -> Path:
    package, _, script = PLAYERS[player]
    return players_dir() / "node_modules" / package / script


def why_no_players() -> str | None:
    """Why the real players cannot run here (None: they can)."""
    if not CHROMIUM.exists():
        return f"needs headless Chromium at {CHROMIUM}: apt-get install -y chromium"
    for player, (package, version, _) in PLAYERS.items():
        pkg = players_dir() / "node_modules" / package / "package.json"
        try:
            found = json.loads(pkg.read_text()).get("version")
        except (OSError, ValueError):
            return f"{player} is not installed at {pkg.parent} (run scripts/setup.sh)"
        if found != version:
            return f"{player} {found} at {pkg.parent}, tests pin {version} (run scripts/setup.sh)"
    return None


# The page: the player as its README embeds it, and a reporter of what it says.
PAGE = """<!doctype html><html><head><meta charset="utf-8"><script src="/player.js"></script>
</head><body><video id="v" muted autoplay playsinline width="640" height="360"></video><script>
const CONFIG = __CONFIG__;
const video = document.getElementById("v");
let t0 = null, seq = 0, levels = [];
const now = () => t0 === null ? null : (performance.now() - t0) / 1000;
function post(kind, data) {
  const body = JSON.stringify(Object.assign({kind, seq: seq++, t: now()}, data || {}));
  fetch("/event", {method: "POST", body, keepalive: true}).catch(() => {});
}
window.addEventListener("error", e => post("page_error", {message: String(e.message)}));
window.addEventListener("unhandledrejection", e => post("page_error", {message: String(e.reason)}));
for (const name of ["playing", "waiting", "seeking", "pause", "ended", "resize"]) {
  video.addEventListener(name, () => post("video", {name, height: video.videoHeight,
                                                    position: video.currentTime}));
}
video.addEventListener("error", () => post("player_error", {
  type: "media", details: video.error ? video.error.code + " " + video.error.message : "",
  fatal: true}));
function level(i) {
  const l = levels.find(x => x.level === i);
  return Object.assign({level: i}, l || {});
}
function common() {
  const b = video.buffered, q = video.getVideoPlaybackQuality();
  const ahead = b.length ? b.end(b.length - 1) - video.currentTime : 0;
  return {position: video.currentTime, buffer: ahead, height: video.videoHeight,
          dropped: q.droppedVideoFrames, frames: q.totalVideoFrames};
}
let sample;
if (CONFIG.player === "hls.js") {
  // low-latency mode on for an LL-HLS origin (parts, blocking reloads), off as a site
  // embeds it for plain HLS
  const hls = new Hls({lowLatencyMode: !!CONFIG.low_latency});
  const E = Hls.Events;
  hls.on(E.MANIFEST_PARSED, (e, d) => {
    levels = d.levels.map((l, i) => ({level: i, height: l.height, bitrate_kbps: l.bitrate / 1000}));
    post("levels", {levels, first: d.firstLevel});
    video.play().catch(err => post("page_error", {message: "play(): " + err}));
  });
  hls.on(E.LEVEL_SWITCHED, (e, d) => post("switch", level(d.level)));
  hls.on(E.FRAG_LOADED, (e, d) => post("fragment", {level: d.frag.level, sn: d.frag.sn}));
  hls.on(E.ERROR, (e, d) => post("player_error", {type: d.type, details: d.details,
                                                  fatal: !!d.fatal}));
  sample = () => Object.assign(common(), {
    latency: Number.isFinite(hls.latency) ? hls.latency : null,
    // hls.latency is counted from the playlist's edge; playingDate is the playhead's
    // PROGRAM-DATE-TIME: the capture clock streamperf's HLS latency is counted from
    clock_latency: hls.playingDate ? (Date.now() - hls.playingDate.getTime()) / 1000 : null,
    bandwidth_kbps: Number.isFinite(hls.bandwidthEstimate) ? hls.bandwidthEstimate / 1000 : null,
    level: hls.currentLevel});
  t0 = performance.now();
  post("request", {version: Hls.version});
  hls.loadSource(CONFIG.url);
  hls.attachMedia(video);
} else {
  const player = dashjs.MediaPlayer().create();
  const E = dashjs.MediaPlayer.events;
  player.on(E.STREAM_INITIALIZED, () => {
    levels = player.getBitrateInfoListFor("video").map(b => ({
      level: b.qualityIndex, height: b.height, bitrate_kbps: b.bitrate / 1000}));
    post("levels", {levels, first: player.getQualityFor("video")});
  });
  player.on(E.QUALITY_CHANGE_RENDERED, e => {
    if (e.mediaType === "video") post("switch", level(e.newQuality));
  });
  player.on(E.FRAGMENT_LOADING_COMPLETED, e => {
    if (e.request && e.request.mediaType === "video" && e.request.type === "MediaSegment")
      post("fragment", {level: e.request.quality, sn: e.request.index});
  });
  player.on(E.ERROR, e => post("player_error", {type: "dash",
                                               details: JSON.stringify(e.error), fatal: true}));
  sample = () => {
    const latency = player.getCurrentLiveLatency();
    const throughput = player.getAverageThroughput("video");
    return Object.assign(common(), {
      latency: Number.isFinite(latency) ? latency : null,
      clock_latency: Number.isFinite(latency) ? latency : null,  // the MPD's clock already
      bandwidth_kbps: Number.isFinite(throughput) && throughput > 0 ? throughput : null,
      level: player.getQualityFor("video")});
  };
  t0 = performance.now();
  post("request", {version: dashjs.Version});
  player.initialize(video, CONFIG.url, true);
}
setInterval(() => post("sample", sample()), __SAMPLE_MS__);
</script></body></html>
"""


@dataclass(frozen=True)
class Rendition:
    """A rendition a player plays: its height and the bitrate its manifest gives it."""

    height: int
    bitrate_kbps: float

    def __str__(self) -> str:
        return f"{self.height}p ({self.bitrate_kbps:.0f} kbps)"


@dataclass(frozen=True)
class Switch:
    t_s: float  # when the player said the new rendition plays
    rendition: Rendition


@dataclass(frozen=True)
class Stall:
    t_s: float  # `waiting` after playback had started
    duration_s: float  # to the next `playing`, or to the end of the run


@dataclass(frozen=True)
class Sample:
    t_s: float
    latency_s: float | None  # the player's own figure
    clock_latency_s: float | None  # now less the capture time at its playhead
    bandwidth_kbps: float | None
    height: int  # the decoded picture's: the rendition on screen
    buffer_s: float
    position_s: float


@dataclass
class PlayerReport:
    """What one player reported of one run (times from its play request)."""

    player: str
    version: str
    played_s: float  # how long the run lasted from the play request
    renditions: list[Rendition]  # its ladder, as it read the manifest
    startup_s: float | None  # play request to the first `playing`
    switches: list[Switch]
    stalls: list[Stall]
    samples: list[Sample]
    errors: list[str]  # the players' error events, "fatal" ones marked so
    events: list[dict[str, Any]] = field(repr=False, default_factory=list)

    def rendition_at(self, t_s: float) -> Rendition | None:
        """The rendition playing at `t_s`: the last switch by then (the first switch if
        none was yet: the start rendition)."""
        done = [s for s in self.switches if s.t_s <= t_s]
        if done:
            return done[-1].rendition
        return self.switches[0].rendition if self.switches else None

    @property
    def start(self) -> Rendition | None:
        """The rendition it started on."""
        return self.rendition_at(self.startup_s) if self.startup_s is not None else None

    @property
    def held(self) -> Rendition | None:
        """The rendition it was on at the end."""
        return self.rendition_at(self.played_s)

    @property
    def latency_s(self) -> float | None:
        """Its latency while playing: the mean of its own figures from its first `playing`
        on (as streamperf's latency_s is a viewer's mean)."""
        if self.startup_s is None:
            return None
        known = [s.latency_s for s in self.samples
                 if s.t_s >= self.startup_s and s.latency_s is not None]
        return statistics.fmean(known) if known else None

    @property
    def clock_latency_s(self) -> float | None:
        """Its latency by the stream's capture clock while playing (mean): hls.js's
        playhead PROGRAM-DATE-TIME against now, dash.js's own figure (it is on the MPD's
        clock). hls.js's `latency` is from its playlist's edge, which leaves out the
        time a segment takes to be written and listed."""
        if self.startup_s is None:
            return None
        known = [s.clock_latency_s for s in self.samples
                 if s.t_s >= self.startup_s and s.clock_latency_s is not None]
        return statistics.fmean(known) if known else None

    @property
    def bandwidth_kbps(self) -> float | None:
        """Its bandwidth estimate over the last 10 s (median)."""
        return _recent_median([s.bandwidth_kbps for s in self.samples
                               if s.t_s >= self.played_s - 10])

    @property
    def buffer_s(self) -> float | None:
        """Media it held ahead of its playhead while playing (mean): the part of its
        latency that a viewer timing only its downloads does not see."""
        if self.startup_s is None:
            return None
        ahead = [s.buffer_s for s in self.samples if s.t_s >= self.startup_s]
        return statistics.fmean(ahead) if ahead else None

    @property
    def fatal_errors(self) -> list[str]:
        return [e for e in self.errors if e.startswith("fatal")]

    def summary(self) -> str:
        """The figures, one line (for docs/metrics.md)."""
        def fmt(v: float | None, spec: str = ".2f") -> str:
            return "-" if v is None else format(v, spec)
        switches = ", ".join(f"{s.rendition.height}p@{s.t_s:.1f}s" for s in self.switches)
        stalls = ", ".join(f"{s.t_s:.1f}s+{s.duration_s:.1f}s" for s in self.stalls) or "none"
        return (f"{self.player} {self.version}: startup {fmt(self.startup_s)} s, start "
                f"{self.start}, held {self.held}, switches [{switches}], stalls {stalls}, "
                f"latency {fmt(self.latency_s)} s (by the capture clock "
                f"{fmt(self.clock_latency_s)} s), buffer {fmt(self.buffer_s)} s, estimate "
                f"{fmt(self.bandwidth_kbps, '.0f')} kbps, errors {len(self.errors)} "
                f"({len(self.fatal_errors)} fatal)"
                f" over {self.played_s:.1f} s")


def _recent_median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def report_of(player: str, events: list[dict[str, Any]], played_s: float) -> PlayerReport:
    """A PlayerReport from the page's events (any order: by their sequence number)."""
    events = sorted(events, key=lambda e: e["seq"])
    version = next((str(e.get("version")) for e in events if e["kind"] == "request"), "?")
    ladder: list[dict[str, Any]] = next(
        (e["levels"] for e in events if e["kind"] == "levels"), [])
    renditions = [Rendition(int(x["height"]), float(x["bitrate_kbps"])) for x in ladder]
    by_height = {r.height: r for r in renditions}
    startup = None
    switches: list[Switch] = []
    stalls: list[Stall] = []
    waiting_since: float | None = None
    samples: list[Sample] = []
    errors: list[str] = []
    for e in events:
        t = float(e.get("t") or 0.0)  # None: posted before the play request
        kind = e["kind"]
        if kind == "switch" and "height" in e:
            switches.append(Switch(t, Rendition(int(e["height"]), float(e["bitrate_kbps"]))))
        elif kind == "video" and e["name"] == "playing":
            if startup is None:
                startup = t
                # a player that names no start rendition (dash.js fires no
                # QUALITY_CHANGE_RENDERED for it): the picture's height says which
                if not switches and e["height"] in by_height:
                    switches.append(Switch(t, by_height[e["height"]]))
            if waiting_since is not None:
                stalls.append(Stall(waiting_since, t - waiting_since))
                waiting_since = None
        elif kind == "video" and e["name"] == "waiting":
            if startup is not None and waiting_since is None:
                waiting_since = t
        elif kind == "sample":
            samples.append(Sample(t, e["latency"], e.get("clock_latency"),
                                  e["bandwidth_kbps"], int(e["height"]),
                                  float(e["buffer"]), float(e["position"])))
        elif kind in ("player_error", "page_error"):
            what = e.get("message") or f"{e.get('type')}: {e.get('details')}"
            errors.append(("fatal " if e.get("fatal") else "") + f"{what} at {t}")
    if waiting_since is not None:
        stalls.append(Stall(waiting_since, played_s - waiting_since))
    return PlayerReport(player, version, played_s, renditions, startup, switches, stalls,
                        samples, errors, events)


def _stop_group(proc: subprocess.Popen[bytes], grace_s: float = 5.0) -> None:
    """SIGTERM Chromium's process group (its leader is our child: start_new_session), then
    SIGKILL; the renderers and the GPU/utility processes are in that group."""
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(wait)
            # the leader is gone; make sure nothing of its group outlives it
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            return


def play(url: str, player: str, seconds: float, workdir: Path,
         start_timeout_s: float = 30.0, low_latency: bool = False) -> PlayerReport:
    """`player` ("hls.js" or "dash.js") plays `url` in headless Chromium for `seconds`
    from its play request; what it reported. `low_latency`: hls.js's lowLatencyMode."""
    why = why_no_players()
    if why:
        raise RuntimeError(why)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    config = {"player": player, "url": url, "low_latency": low_latency}
    page = (PAGE.replace("__CONFIG__", json.dumps(config))
            .replace("__SAMPLE_MS__", str(int(SAMPLE_S * 1000))))
    events: list[dict[str, Any]] = []
    requested = threading.Event()
    lock = threading.Lock()

    async def index(request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    async def script(request: web.Request) -> web.FileResponse:
        return web.FileResponse(player_script(player))

    async def event(request: web.Request) -> web.Response:
        e = await request.json()
        with lock:
            events.append(e)
        if e["kind"] == "request":
            requested.set()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_get("/", index)
    app.router.add_get("/player.js", script)
    app.router.add_post("/event", event)
    with app_on_thread(app) as (base,), open(workdir / "chromium.log", "ab") as log:
        proc = popen(
            [str(CHROMIUM), *FLAGS, f"--user-data-dir={workdir / 'chromium-profile'}",
             "--window-size=800,600", f"{base}/"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        try:
            if not requested.wait(start_timeout_s):
                state = "running" if proc.poll() is None else f"exited {proc.returncode}"
                with lock:
                    said = [e.get("message") or e["kind"] for e in events]
                raise RuntimeError(f"{player}'s page asked for nothing in {start_timeout_s:g} s"
                                   f" (Chromium {state}, the page said {said}); see {log.name}")
            begun = time.monotonic()
            while time.monotonic() - begun < seconds:
                if proc.poll() is not None:
                    raise RuntimeError(f"Chromium exited with {proc.returncode}; see {log.name}")
                time.sleep(0.2)
            played = time.monotonic() - begun
        finally:
            _stop_group(proc)
        with lock:
            seen = list(events)
        # kept beside Chromium's log: what the page said, for a failure's post-mortem
        (workdir / "events.json").write_text(json.dumps(seen))
        return report_of(player, seen, played)
