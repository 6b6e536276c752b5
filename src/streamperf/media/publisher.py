"""ffmpeg publisher: a cached synthetic clip, its probe, and a looping `-c copy` push.

Timestamps across the loop boundary: with `-stream_loop -1 -c copy` ffmpeg
adds the previous loop's duration to every packet, so the FLV timestamps the
server sees keep increasing (checked through nginx-rtmp with ffprobe: no
backward step, no gap above one frame, at every boundary of a 4 s clip).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import statistics
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from streamperf.media.processes import popen, terminate
from streamperf.media.rungs import Rendition
from streamperf.redact import redact

# Clip parameters; they are part of the cache file name, so changing one
# makes a new clip instead of reusing a stale one.
WIDTH, HEIGHT, FPS = 640, 360, 30
VIDEO_KBPS, AUDIO_KBPS, AUDIO_HZ = 950, 96, 44100
GOP_FRAMES = 2 * FPS  # fixed 2 s GOP, as live encoders are set up
CLIP_VERSION = 1


class PublisherError(RuntimeError):
    """ffmpeg could not make, probe or publish a stream."""


def default_cache_dir() -> Path:
    """`$STREAMPERF_CACHE`, else ~/.cache/streamperf."""
    env = os.environ.get("STREAMPERF_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "streamperf"


def tool(name: str) -> str:
    """The path of ffmpeg or ffprobe; PublisherError saying how to install it."""
    path = shutil.which(name)
    if path is None:
        raise PublisherError(f"{name} not found on PATH: install it with `apt-get install ffmpeg`")
    return path


def looping_input(source: Path, loglevel: str = "info") -> list[str]:
    """ffmpeg reading `source` in real time (`-re`), looped forever, its progress on
    stdout every 0.25 s (Publisher.start takes T0 from it); outputs follow."""
    return [
        tool("ffmpeg"), "-hide_banner", "-nostdin", "-nostats", "-loglevel", loglevel,
        "-progress", "pipe:1", "-stats_period", "0.25",
        "-re", "-stream_loop", "-1", "-i", input_arg(source),
    ]  # fmt: skip


def input_arg(path: Path) -> str:
    """A local file as ffmpeg/ffprobe input: `file:` and the absolute path, so a name
    such as `-x.flv` is never read as an option, nor `http:x.flv` as a protocol."""
    return "file:" + str(Path(path).resolve())


def single_line(text: str, limit: int = 500) -> str:
    """A tool's stderr as one line of an error message (its last `limit` characters)."""
    line = " | ".join(s.strip() for s in text.splitlines() if s.strip())
    return line[-limit:] if len(line) > limit else line


def synthetic_clip(cache_dir: Path, seconds: int = 30) -> Path:
    """A steady ~1.05 Mbps FLV test clip (H.264 + AAC), encoded once and cached.

    testsrc2 plus per-frame noise keeps the encoder busy at its target rate
    (a bare test pattern compresses to almost nothing, so the stream would
    not be realistic); nal-hrd=cbr with min=max rate holds the bitrate flat
    per second. No B-frames, so FLV timestamps (dts) equal presentation times.
    """
    if seconds <= 0:
        raise PublisherError(f"clip length must be positive, got {seconds}")
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    name = (
        f"synthetic-{WIDTH}x{HEIGHT}-{FPS}fps-v{VIDEO_KBPS}k-a{AUDIO_KBPS}k"
        f"-g{GOP_FRAMES}-{seconds}s-v{CLIP_VERSION}.flv"
    )
    out = cache_dir / name
    if out.is_file() and out.stat().st_size > 0:
        return out
    # Write under a temp name then rename: a crash or a parallel run (xdist)
    # never leaves or reads a half-written clip.
    tmp = cache_dir / f".{name}.{os.getpid()}.{threading.get_ident()}.tmp"
    v = f"{VIDEO_KBPS}k"
    cmd = [
        tool("ffmpeg"), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", f"testsrc2=size={WIDTH}x{HEIGHT}:rate={FPS}",
        "-f", "lavfi", "-i", f"sine=frequency=440:beep_factor=4:sample_rate={AUDIO_HZ}",
        "-t", str(seconds),
        "-vf", "noise=alls=12:allf=t",
        "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "main", "-pix_fmt", "yuv420p",
        "-bf", "0",
        "-b:v", v, "-minrate", v, "-maxrate", v, "-bufsize", v,
        "-x264-params", "nal-hrd=cbr",
        "-g", str(GOP_FRAMES), "-keyint_min", str(GOP_FRAMES), "-sc_threshold", "0",
        "-c:a", "aac", "-b:a", f"{AUDIO_KBPS}k", "-ar", str(AUDIO_HZ), "-ac", "2",
        "-f", "flv", str(tmp),
    ]  # fmt: skip
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise PublisherError(
                f"ffmpeg could not make {out}: exit {proc.returncode}: {single_line(proc.stderr)}"
            )
        os.replace(tmp, out)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return out


@dataclass
class SourceInfo:
    bitrate_kbps: float  # whole file, audio + video + FLV overhead; a ladder's top rendition's
    duration_s: float
    gop_s: float | None  # median key-frame interval of the first 20 s; None if < 2 keys
    #: a ladder's renditions, top first (media/ladder.py); empty: one stream
    renditions: tuple[Rendition, ...] = field(default_factory=tuple)


def probe_source(path: Path) -> SourceInfo:
    """Bitrate, duration and GOP of a media file, with ffprobe."""
    path = Path(path)
    if not path.is_file():
        raise PublisherError(f"source video {path} does not exist")
    ffprobe = tool("ffprobe")
    fmt = subprocess.run(
        [ffprobe, "-v", "error", "-show_entries", "format=duration,bit_rate,size", "-of", "json",
         input_arg(path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    if fmt.returncode != 0:
        raise PublisherError(f"ffprobe could not read {path}: {single_line(fmt.stderr)}")
    info = json.loads(fmt.stdout).get("format", {})
    try:
        duration = float(info["duration"])
    except (KeyError, ValueError) as e:
        raise PublisherError(f"ffprobe found no duration in {path}") from e
    if duration <= 0:
        raise PublisherError(f"{path} has zero duration")
    size = int(info.get("size") or path.stat().st_size)
    bitrate = size * 8 / duration / 1000 if size else float(info.get("bit_rate", 0)) / 1000
    keys = subprocess.run(
        [ffprobe, "-v", "error", "-select_streams", "v:0", "-read_intervals", "%+20",
         "-show_entries", "packet=pts_time,flags", "-of", "csv=p=0", input_arg(path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    times: list[float] = []
    for line in keys.stdout.splitlines():
        parts = line.split(",")
        if len(parts) >= 2 and "K" in parts[1]:
            with contextlib.suppress(ValueError):
                times.append(float(parts[0]))
    gaps = [b - a for a, b in itertools.pairwise(times) if b > a]
    gop = round(statistics.median(gaps), 3) if gaps else None
    return SourceInfo(bitrate_kbps=round(bitrate, 1), duration_s=round(duration, 3), gop_s=gop)


class Publisher:
    """`ffmpeg -re -stream_loop -1 -i SRC -c copy -f flv URL`, stopped by its PID."""

    def __init__(self, source: Path, ingest_url: str, run_dir: Path) -> None:
        self.source = Path(source)
        self.ingest_url = ingest_url
        self.run_dir = Path(run_dir)
        self.log_path = self.run_dir / "publisher.log"
        self.t0: float | None = None
        self.pid: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._lock = threading.Lock()
        # (unix time the report was read, media seconds muxed so far)
        self._progress: list[tuple[float, float]] = []
        self.last_progress: tuple[float, float] | None = None
        self.restarts = 0  # times restart() started it again

    def command(self) -> list[str]:
        """The ffmpeg command line: the source looped in real time, copied to the ingest."""
        return [*looping_input(self.source), "-c", "copy", "-f", "flv", self.ingest_url]

    def probe(self) -> SourceInfo:
        """The figures of what this publisher sends (the source clip's)."""
        return probe_source(self.source)

    def start(self, timeout: float = 10, ready: Callable[[], bool] | None = None) -> float:
        """Start pushing; return T0, the unix time of media timestamp 0.

        T0 estimate: with -re, ffmpeg sends a packet once wall time since its
        start of reading reaches the packet's timestamp (input start time is
        subtracted, so the stream begins at ts 0). Each `-progress` report read
        at wall time w with muxed time m gives w - m >= T0; the minimum over
        the first reports is the estimate. Error: report read delay (a few ms)
        plus at most one frame/audio packet of pacing slack, i.e. T0 is late
        by ~0-50 ms; it is never earlier than the moment ffmpeg was spawned.
        """
        if self._proc is not None:
            raise PublisherError(f"publisher to {redact(self.ingest_url)} already started")
        if not self.source.is_file():
            raise PublisherError(f"source video {self.source} does not exist")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        cmd = self.command()
        spawned = time.time()
        # A restart appends: the log of the death stays above the new start's.
        with open(self.log_path, "ab" if self.restarts else "wb") as log:
            self._proc = popen(
                cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
                # Ctrl-C reaches the controller, which ends the run and then stops
                # ffmpeg by PID; dying with the terminal would mark the run invalid.
                # (popen: it still ends when this process does, however that ends)
                start_new_session=True,
            )
        self.pid = self._proc.pid
        self._reader = threading.Thread(
            target=self._read_progress, name=f"publisher-{self.pid}", daemon=True
        )
        self._reader.start()

        deadline = time.monotonic() + timeout
        # At least two progress reports, so the minimum is over more than one.
        while True:
            with self._lock:
                n = len(self._progress)
            if n >= 2:
                break
            self._check_running(deadline, timeout, "start sending")
            time.sleep(0.05)
        while ready is not None and not ready():
            self._check_running(deadline, timeout, "pass the ready check (server shows no stream)")
            time.sleep(0.1)
        with self._lock:
            est = min(w - m for w, m in self._progress)
        self.t0 = max(est, spawned)
        return self.t0

    def _check_running(self, deadline: float, timeout: float, what: str) -> None:
        assert self._proc is not None
        rc = self._proc.poll()
        if rc is not None:
            raise PublisherError(
                f"ffmpeg publishing to {redact(self.ingest_url)} exited with {rc}: "
                f"{self.log_tail(5, True)}"
            )
        if time.monotonic() > deadline:
            self.stop()
            raise PublisherError(
                f"ffmpeg publishing to {redact(self.ingest_url)} did not {what} within "
                f"{timeout:g}s: "
                f"{self.log_tail(5, True)}"
            )

    def _read_progress(self) -> None:
        # Also drains the pipe, so ffmpeg never blocks on a full stdout.
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        out_s: float | None = None
        for raw in proc.stdout:
            key, _, value = raw.decode("ascii", "replace").strip().partition("=")
            if key == "out_time_us":
                try:
                    out_s = int(value) / 1e6
                except ValueError:
                    out_s = None
            elif key == "progress":
                now = time.time()
                if out_s is not None and out_s > 0:
                    with self._lock:
                        self.last_progress = (now, out_s)
                        if len(self._progress) < 50:
                            self._progress.append((now, out_s))

    def restart(self, timeout: float = 10, ready: Callable[[], bool] | None = None) -> float:
        """Start a publisher that died (or was stopped) again, as `start`; the new T0.

        Its timestamps begin at 0 again: the new T0 is the publish clock from now on.
        """
        self.stop()  # reaps the dead process and its reader
        self._proc = None
        self._reader = None
        with self._lock:
            self._progress = []
            self.last_progress = None
        self.t0 = None
        self.restarts += 1
        return self.start(timeout, ready)

    # --- state ------------------------------------------------------------
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.poll()

    def log_tail(self, n: int = 20, one_line: bool = False) -> str:
        """The log's last `n` lines, secrets masked (ffmpeg prints its output URL)."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        tail = redact("\n".join(lines[-n:]))
        return single_line(tail) if one_line else tail

    def copy_log(self, dest: Path) -> None:
        """The log, secrets masked, to `dest` (a run directory's publisher.log)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return
        Path(dest).write_text(redact(text))

    def stop(self, grace: float = 3.0) -> None:
        """SIGTERM (ffmpeg closes the stream cleanly), then SIGKILL; idempotent."""
        proc = self._proc
        if proc is None:
            return
        terminate(proc, grace)
        if self._reader is not None:
            self._reader.join(2)
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
