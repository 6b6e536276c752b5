"""Real DASH output of ffmpeg's muxer for the DASH tests: manifests and fMP4 segments.

`record_dash` runs ffmpeg's DASH muxer on the synthetic clip (media/publisher.py,
H.264 + AAC, 2 s GOP) with `-c copy`, faster than real time (`-readrate`), and keeps
the MPD as it was while live (`type="dynamic"`, copied once it lists `live_segments`)
beside the final static one and the segments. `$Number$` (`timeline=False`:
SegmentTemplate@duration) or `$Time$` names on a SegmentTimeline (`timeline=True`).
`dash_command` is the ffmpeg command line both this and the live tests use.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from streamperf.media.processes import terminate
from streamperf.media.publisher import default_cache_dir, input_arg, synthetic_clip

NUMBER_NAMES = "chunk-$RepresentationID$-$Number%05d$.$ext$"
TIME_NAMES = "chunk-$RepresentationID$-$Time$.$ext$"


def dash_command(clip: Path, out: Path, timeline: bool, *, live: bool = False,
                 seconds: float = 0.0, readrate: float = 0.0, window: int = 0,
                 utc_url: str = "", streaming: bool = True) -> list[str]:  # fmt: skip
    """ffmpeg: `clip` copied into a DASH presentation at `out` (its .mpd), 2 s segments,
    a video and an audio adaptation set; `live` loops the clip in real time."""
    cmd = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    if live:
        cmd += ["-re", "-stream_loop", "-1"]
    elif readrate:
        cmd += ["-readrate", str(readrate)]
    cmd += ["-i", input_arg(clip)]
    if seconds:
        cmd += ["-t", str(seconds)]
    cmd += [
        *("-map", "0:v", "-map", "0:a", "-c", "copy", "-f", "dash"),
        *("-use_template", "1", "-use_timeline", "1" if timeline else "0"),
        *("-seg_duration", "2", "-window_size", str(window), "-extra_window_size", "2"),
        *("-streaming", "1" if streaming else "0", "-ldash", "0"),
        *("-adaptation_sets", "id=0,streams=v id=1,streams=a"),
        *("-media_seg_name", TIME_NAMES if timeline else NUMBER_NAMES),
    ]
    if utc_url:
        cmd += ["-utc_timing_url", utc_url]
    return [*cmd, str(out)]


@dataclass(frozen=True)
class DashRecording:
    dir: Path
    live_mpd: bytes  # the MPD while ffmpeg was writing (dynamic)
    final_mpd: bytes  # the one it left (static)

    def segments(self, rep: str) -> list[Path]:
        """The media segments of representation `rep` in media order."""
        found = list(self.dir.glob(f"chunk-{rep}-*.m4s"))
        return sorted(found, key=lambda p: int(p.stem.rsplit("-", 1)[1]))

    def init(self, rep: str) -> bytes:
        return (self.dir / f"init-stream{rep}.m4s").read_bytes()


def record_dash(dest: Path, timeline: bool, seconds: float = 8.0,
                live_segments: int = 2) -> DashRecording:  # fmt: skip
    """ffmpeg's DASH muxer on the synthetic clip into `dest` (see the module doc)."""
    dest.mkdir(parents=True, exist_ok=True)
    clip = synthetic_clip(default_cache_dir())
    mpd = dest / "live.mpd"
    proc = subprocess.Popen(dash_command(clip, mpd, timeline, seconds=seconds, readrate=4),
                            stderr=subprocess.PIPE)
    live = b""
    try:
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            body = mpd.read_bytes() if mpd.exists() else b""
            done = len(list(dest.glob("chunk-0-*.m4s")))
            if b'type="dynamic"' in body and done >= live_segments and not live:
                live = body
            time.sleep(0.05)
        _, err = proc.communicate(timeout=30)
    finally:
        terminate(proc, grace=5.0)
    if proc.returncode != 0 or not live:
        raise RuntimeError(f"ffmpeg DASH recording failed ({proc.returncode}): {err[-500:]!r}")
    return DashRecording(dest, live, mpd.read_bytes())


__all__ = ["DashRecording", "dash_command", "record_dash"]
