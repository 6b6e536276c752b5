"""A live three-rendition ladder over HLS and DASH on loopback, for the real-player tests.

The synthetic clip (media/publisher.py) is encoded once into 2400k 1280x720,
1100k 854x480 and 350k 426x240 H.264 with one shared AAC track, GOPs aligned
(2 s, no scene cuts, no B-frames) and cached beside the clip. One ffmpeg
loops it `-re -c copy` into both ffmpeg's HLS muxer (master playlist, a TS
variant per rendition with the audio muxed in, PDT) and its DASH muxer
(`$Time$` timeline, a video and an audio adaptation set, UTCTiming), in a
temp dir that an aiohttp static server on a thread serves, on as many media
ports as asked (`media_ports`): a test caps one with LoShaper, so players
capped apart can play at once. The clock that the MPD's UTCTiming names is
on a port of its own, so a cap's queue never skews a player's clock sync.

    with LiveLadder.running(tmp_path) as ladder:
        ladder.master_url, ladder.mpd_url

Kept in tests/support, apart from the bundled platform's `--ladder`, so the
reference test does not depend on the code it checks.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from streamperf.media.processes import popen, terminate
from streamperf.media.publisher import (
    AUDIO_KBPS,
    FPS,
    GOP_FRAMES,
    default_cache_dir,
    input_arg,
    synthetic_clip,
)
from tests.support.loopback_servers import app_on_thread

SEGMENT_S = GOP_FRAMES // FPS  # every segment starts on a key frame of every rendition
WINDOW_SEGMENTS = 10  # playlist and MPD window: 20 s, room for any player's live delay
LADDER_VERSION = 1  # part of the cache name: bump when the encode changes


@dataclass(frozen=True)
class Rendition:
    name: str
    width: int
    height: int
    video_kbps: int

    @property
    def sar(self) -> str:
        """The sample aspect ratio that makes the picture exactly 16:9: ffmpeg's DASH
        muxer refuses an adaptation set whose representations differ in aspect ratio,
        and 854x480 and 426x240 are a pixel off."""
        num, den = 16 * self.height, 9 * self.width
        return f"{num}/{den}"


LADDER = (Rendition("720p", 1280, 720, 2400), Rendition("480p", 854, 480, 1100),
          Rendition("240p", 426, 240, 350))


def ladder_clip(cache_dir: Path | None = None, seconds: int = 30) -> Path:
    """The ladder's MP4 (three video tracks in LADDER's order, then the clip's AAC), encoded
    once from the synthetic clip and cached (temp name, then rename: xdist-safe)."""
    cache_dir = Path(cache_dir or default_cache_dir())
    names = "-".join(f"{r.height}p{r.video_kbps}k" for r in LADDER)
    name = f"ladder-{names}-a{AUDIO_KBPS}k-g{GOP_FRAMES}-{seconds}s-v{LADDER_VERSION}.mp4"
    out = cache_dir / name
    if out.is_file() and out.stat().st_size > 0:
        return out
    clip = synthetic_clip(cache_dir, seconds)
    split = "".join(f"[s{i}]" for i in range(len(LADDER)))
    graph = f"[0:v]split={len(LADDER)}{split};" + ";".join(
        f"[s{i}]scale={r.width}:{r.height},setsar={r.sar}:max=10000[v{i}]"
        for i, r in enumerate(LADDER))
    rates: list[str] = []
    maps: list[str] = []
    for i, r in enumerate(LADDER):
        maps += ["-map", f"[v{i}]"]
        # CBR with filler (nal-hrd): every segment of a rendition weighs what its
        # BANDWIDTH says, so a cap between two renditions is between them all the time.
        rates += [f"-b:v:{i}", f"{r.video_kbps}k", f"-minrate:v:{i}", f"{r.video_kbps}k",
                  f"-maxrate:v:{i}", f"{r.video_kbps}k", f"-bufsize:v:{i}", f"{r.video_kbps}k"]
    tmp = out.with_name(f".{out.name}.{os.getpid()}.{threading.get_ident()}.tmp.mp4")
    cmd = [
        "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
        "-i", input_arg(clip), "-t", str(seconds), "-filter_complex", graph, *maps,
        "-map", "0:a", "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high",
        "-pix_fmt", "yuv420p", "-bf", "0", "-g", str(GOP_FRAMES),
        "-keyint_min", str(GOP_FRAMES), "-sc_threshold", "0", "-x264-params", "nal-hrd=cbr",
        *rates, "-c:a", "copy", str(tmp),
    ]  # fmt: skip
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise RuntimeError(f"ffmpeg could not encode the ladder: {proc.stderr[-800:]}")
        os.replace(tmp, out)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return out


def publish_command(source: Path, hls_dir: Path, dash_dir: Path, clock_url: str) -> list[str]:
    """One ffmpeg, `-re -stream_loop -1 -c copy`, to an HLS master playlist and a DASH MPD."""
    n = len(LADDER)
    hls_maps = [a for i in range(n) for a in ("-map", f"0:v:{i}", "-map", "0:a:0")]
    var_streams = " ".join(f"v:{i},a:{i},name:{r.name}" for i, r in enumerate(LADDER))
    dash_maps = [a for i in range(n) for a in ("-map", f"0:v:{i}")] + ["-map", "0:a:0"]
    return [
        "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "warning",
        "-re", "-stream_loop", "-1", "-i", input_arg(source),
        *hls_maps, "-c", "copy", "-f", "hls", "-hls_time", str(SEGMENT_S),
        "-hls_list_size", str(WINDOW_SEGMENTS),
        "-hls_flags", "program_date_time+independent_segments+delete_segments",
        "-var_stream_map", var_streams, "-master_pl_name", "master.m3u8",
        "-hls_segment_filename", str(hls_dir / "%v" / "seg%d.ts"),
        str(hls_dir / "%v" / "index.m3u8"),
        *dash_maps, "-c", "copy", "-f", "dash", "-seg_duration", str(SEGMENT_S),
        "-use_template", "1", "-use_timeline", "1",
        "-window_size", str(WINDOW_SEGMENTS), "-extra_window_size", "5",
        "-adaptation_sets", "id=0,streams=v id=1,streams=a",
        # dash.js 4 will not play a live MPD without it ("Failed to synchronize client and
        # server time"); http-xsdate: an ISO date in the body (ffmpeg writes that scheme)
        "-utc_timing_url", clock_url,
        str(dash_dir / "live.mpd"),
    ]  # fmt: skip


async def _clock(request: web.Request) -> web.Response:
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return web.Response(text=now, headers={"Cache-Control": "no-store"})


async def _headers(request: web.Request, response: web.StreamResponse) -> None:
    # The players' page comes from another port: CORS. Playlists and MPDs change under
    # the same URL: never from the browser's cache.
    response.headers["Access-Control-Allow-Origin"] = "*"
    if request.path.endswith((".m3u8", ".mpd")):
        response.headers["Cache-Control"] = "no-store"


class LiveLadder:
    """The ladder published and served: `start()`/`stop()` or `with LiveLadder.running(dir)`."""

    def __init__(self, workdir: Path, source: Path | None = None, media_ports: int = 1) -> None:
        self.workdir = Path(workdir)
        self.source = source
        self.media_ports = media_ports
        self.hls_dir = self.workdir / "hls"
        self.dash_dir = self.workdir / "dash"
        self.log_path = self.workdir / "ffmpeg.log"
        self.base_url = ""
        self.bases: list[str] = []  # one per media port, bases[0] is base_url
        self.clock_url = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._serving: contextlib.ExitStack | None = None

    @classmethod
    @contextlib.contextmanager
    def running(cls, workdir: Path, source: Path | None = None, media_ports: int = 1
                ) -> Iterator[LiveLadder]:
        ladder = cls(workdir, source, media_ports)
        try:
            yield ladder.start()
        finally:
            ladder.stop()

    @property
    def port(self) -> int:
        """The media port: cap it to cap what every player gets of the ladder."""
        return self.port_at(0)

    @property
    def master_url(self) -> str:
        return self.master_url_at(0)

    @property
    def mpd_url(self) -> str:
        return self.mpd_url_at(0)

    # The same ladder on each of `media_ports` ports: a cap on one caps only the
    # players of that port, so players capped apart can play at the same time.
    def port_at(self, i: int) -> int:
        return int(self.bases[i].rsplit(":", 1)[1])

    def master_url_at(self, i: int) -> str:
        return f"{self.bases[i]}/hls/master.m3u8"

    def mpd_url_at(self, i: int) -> str:
        return f"{self.bases[i]}/dash/live.mpd"

    def start(self, segments: int = 3, timeout_s: float = 30.0) -> LiveLadder:
        """Serve, publish, and return once every rendition has `segments` segments listed."""
        source = self.source or ladder_clip()
        for d in (self.hls_dir, self.dash_dir):
            d.mkdir(parents=True, exist_ok=True)
        app = web.Application()
        app.on_response_prepare.append(_headers)
        app.router.add_get("/time", _clock)
        app.router.add_static("/hls", self.hls_dir)
        app.router.add_static("/dash", self.dash_dir)
        self._serving = contextlib.ExitStack()
        *self.bases, clock_base = self._serving.enter_context(
            app_on_thread(app, ports=self.media_ports + 1))
        self.base_url = self.bases[0]
        self.clock_url = f"{clock_base}/time"
        with open(self.log_path, "ab") as log:
            self._proc = popen(
                publish_command(source, self.hls_dir, self.dash_dir, self.clock_url),
                cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while not self._ready(segments):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                why = f"exited with {self._proc.returncode}" if self._proc.returncode is not None \
                    else f"not {segments} segments in {timeout_s:g} s"
                log_tail = self.log_path.read_text(errors="replace")[-800:]
                self.stop()
                raise RuntimeError(f"ladder publisher {why}: {log_tail}")
            time.sleep(0.2)
        return self

    def _ready(self, segments: int) -> bool:
        if not (self.hls_dir / "master.m3u8").is_file():
            return False
        for r in LADDER:
            try:
                listed = (self.hls_dir / r.name / "index.m3u8").read_text().count("#EXTINF")
            except OSError:
                return False
            if listed < segments:
                return False
        return (self.dash_dir / "live.mpd").is_file()

    def stop(self) -> None:
        """ffmpeg by its PID, then the server; idempotent."""
        proc, self._proc = self._proc, None
        if proc is not None:
            terminate(proc, grace=5.0)
        serving, self._serving = self._serving, None
        if serving is not None:
            serving.close()
