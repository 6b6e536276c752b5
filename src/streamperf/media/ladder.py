"""An ABR ladder from one source: every rendition encoded once, measured once, cached.

The renditions go into one MP4 (video streams top rendition first, then the
source's audio): one input for the publisher, so one `-re` clock and one loop
length pace them all and they can never drift apart across loops. Key frames
are forced every SEGMENT_S in every rendition (`-force_key_frames`, `-g`,
`-sc_threshold 0`), so segments start at the same media time in each; the
rungs share the source's display aspect ratio (`setdar`), which ffmpeg's DASH
muxer demands of one adaptation set (854x480 is not exactly 16:9 in pixels).
The audio is the source's, copied when it is AAC, and shared by all renditions.

Cached like the synthetic clip (media/publisher.py): keyed by the source's
path, size and mtime and the ladder, written under temp names and renamed, a
lock file so that parallel runs encode it once; the measurement beside it as
JSON, written last, so its presence means the pair is complete.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from streamperf.media.ladder_outputs import SEGMENT_S, dash_id, hls_output
from streamperf.media.publisher import PublisherError, input_arg, single_line, tool
from streamperf.media.rungs import Rendition, Rung, ladder_text

LADDER_VERSION = 1  # part of the cache key: changing the encode makes a new ladder
AUDIO_KBPS = 96  # when the source's audio is not AAC and is encoded


@dataclass(frozen=True)
class Ladder:
    """An encoded ladder: `path` (one MP4) and its renditions, top first (v:0)."""

    path: Path
    renditions: tuple[Rendition, ...]
    duration_s: float
    has_audio: bool

    @property
    def top(self) -> Rendition:
        return self.renditions[0]


def _ffprobe_json(path: Path, entries: str) -> dict[str, Any]:
    proc = subprocess.run(
        [tool("ffprobe"), "-v", "error", "-show_entries", entries, "-of", "json",
         input_arg(path)], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise PublisherError(f"ffprobe could not read {path}: {single_line(proc.stderr)}")
    data: dict[str, Any] = json.loads(proc.stdout or "{}")
    return data


def _fraction(text: str | None) -> Fraction | None:
    try:
        value = Fraction(str(text).replace(":", "/"))
    except (ValueError, ZeroDivisionError):
        return None
    return value if value > 0 else None


@dataclass(frozen=True)
class _Source:
    width: int
    height: int
    dar: Fraction  # display aspect ratio
    fps: float
    audio_codec: str | None  # None: no audio


def _probe_source(path: Path) -> _Source:
    info = _ffprobe_json(path, "stream=codec_type,codec_name,width,height,sample_aspect_ratio,"
                               "display_aspect_ratio,avg_frame_rate,r_frame_rate")
    streams = info.get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    if video is None or not video.get("width") or not video.get("height"):
        raise PublisherError(f"{path} has no video stream to make a ladder of")
    w, h = int(video["width"]), int(video["height"])
    sar = _fraction(video.get("sample_aspect_ratio")) or Fraction(1)
    dar = _fraction(video.get("display_aspect_ratio")) or Fraction(w, h) * sar
    fps = _fraction(video.get("avg_frame_rate")) or _fraction(video.get("r_frame_rate"))
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    return _Source(w, h, dar, float(fps or 30),
                   str(audio.get("codec_name")) if audio is not None else None)


def _even(x: float) -> int:
    return max(2, round(x / 2) * 2)


def rung_size(rung: Rung, width: int, height: int, dar: Fraction) -> tuple[int, int]:
    """The rung's picture size: its height (else the source's), the width from the
    source's display aspect ratio, both even (H.264 4:2:0)."""
    h = rung.height if rung.height is not None else _even(height)
    return _even(float(h * dar)), h


def _encode(source: Path, rungs: tuple[Rung, ...], src: _Source, out: Path) -> None:
    sizes = [rung_size(r, src.width, src.height, src.dar) for r in rungs]
    dar = f"{src.dar.numerator}/{src.dar.denominator}"
    outs = [f"[s{i}]" for i in range(len(rungs))]
    split = f"[0:v]split={len(rungs)}{''.join(outs)};" if len(rungs) > 1 else ""
    chains = [f"{outs[i] if split else '[0:v]'}scale={w}:{h},setdar={dar}[v{i}]"
              for i, (w, h) in enumerate(sizes)]
    gop = str(max(1, round(SEGMENT_S * src.fps)))
    cmd = [tool("ffmpeg"), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
           "-i", input_arg(source), "-filter_complex", split + ";".join(chains)]
    for i in range(len(rungs)):
        cmd += ["-map", f"[v{i}]"]
    if src.audio_codec is not None:
        cmd += ["-map", "0:a:0"]
    # CBR per rendition (nal-hrd=cbr, min = max = target), no B-frames, as the clip
    cmd += ["-c:v", "libx264", "-preset", "veryfast", "-profile:v", "main",
            "-pix_fmt", "yuv420p", "-bf", "0", "-x264-params", "nal-hrd=cbr"]
    for i, r in enumerate(rungs):
        k = f"{r.video_kbps}k"
        cmd += [f"-b:v:{i}", k, f"-minrate:v:{i}", k, f"-maxrate:v:{i}", k, f"-bufsize:v:{i}", k]
    cmd += ["-force_key_frames", f"expr:gte(t,n_forced*{SEGMENT_S})",
            "-g", gop, "-keyint_min", gop, "-sc_threshold", "0"]
    if src.audio_codec == "aac":
        cmd += ["-c:a", "copy"]
    elif src.audio_codec is not None:
        cmd += ["-c:a", "aac", "-b:a", f"{AUDIO_KBPS}k", "-ac", "2"]
    cmd += ["-movflags", "+faststart", "-f", "mp4", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise PublisherError(f"ffmpeg could not encode the ladder {ladder_text(rungs)} of "
                             f"{source}: exit {proc.returncode}: {single_line(proc.stderr)}")


def _segments(playlist: Path) -> list[tuple[float, int]]:
    """(EXTINF, bytes) of each segment of a finished media playlist."""
    out: list[tuple[float, int]] = []
    duration: float | None = None
    for line in playlist.read_text().splitlines():
        if line.startswith("#EXTINF:"):
            duration = float(line[8:].split(",")[0])
        elif line and not line.startswith("#") and duration is not None:
            out.append((duration, (playlist.parent / line).stat().st_size))
            duration = None
    return out


def _hls_figures(path: Path, names: list[str], has_audio: bool) -> dict[str, tuple[float, float]]:
    """name -> (peak, average) kbps of its MPEG-TS segments, from a dry run of the
    same HLS muxer the publisher runs (no -re: a second or two)."""
    with tempfile.TemporaryDirectory(prefix="streamperf-ladder-") as tmp:
        out = Path(tmp)
        proc = subprocess.run(
            [tool("ffmpeg"), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
             "-i", input_arg(path), *hls_output(names, has_audio, out, live=False)],
            capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise PublisherError(f"ffmpeg could not segment {path}: {single_line(proc.stderr)}")
        figures = {}
        for name in names:
            segs = _segments(out / f"{name}.m3u8")
            # the last segment may be a short tail: a peak over it would mean little
            full = [(d, n) for d, n in segs if d >= SEGMENT_S / 2] or segs
            peak = max(n * 8 / d / 1000 for d, n in full)
            avg = sum(n for _, n in segs) * 8 / sum(d for d, _ in segs) / 1000
            figures[name] = (round(peak, 1), round(avg, 1))
        return figures


_AAC_OBJECT = {"LC": 2, "HE-AAC": 5, "HE-AACv2": 29}


def measure(path: Path, rungs: tuple[Rung, ...]) -> Ladder:
    """The renditions of an encoded ladder file, as ffprobe and the HLS muxer see them."""
    info = _ffprobe_json(path, "stream=codec_type,width,height,bit_rate,avg_frame_rate,level,"
                               "profile:format=duration")
    streams = info.get("streams", [])
    videos = [s for s in streams if s.get("codec_type") == "video"]
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    if len(videos) != len(rungs):
        raise PublisherError(f"{path} holds {len(videos)} video streams, not {len(rungs)}")
    audio_kbps = float(audio.get("bit_rate") or 0) / 1000 if audio is not None else 0.0
    aac = f"mp4a.40.{_AAC_OBJECT.get(str(audio.get('profile')), 2)}" if audio else ""
    hls = _hls_figures(path, [r.name for r in rungs], audio is not None)
    renditions = []
    for i, (rung, v) in enumerate(zip(rungs, videos, strict=True)):
        # avc1.PPCCLL: we encode Main (77), for which x264 sets constraint_set1 (0x40)
        codecs = f"avc1.4d40{int(v.get('level') or 0):02x}" + (f",{aac}" if aac else "")
        fps = _fraction(v.get("avg_frame_rate"))
        renditions.append(Rendition(
            rung.name, int(v["width"]), int(v["height"]),
            round(float(v.get("bit_rate") or 0) / 1000, 1), round(audio_kbps, 1), codecs,
            round(float(fps or 0), 3), *hls[rung.name], dash_id(i)))
    duration = float(info.get("format", {}).get("duration") or 0)
    return Ladder(path, tuple(renditions), round(duration, 3), audio is not None)


def _cache_name(source: Path, rungs: tuple[Rung, ...]) -> str:
    st = source.stat()
    key = f"{source.resolve()}|{st.st_size}|{st.st_mtime_ns}|{ladder_text(rungs)}|" \
          f"{SEGMENT_S}|{LADDER_VERSION}"
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", source.stem)[:40]
    return f"ladder-{stem}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def _load(mp4: Path, meta: Path) -> Ladder | None:
    try:
        data = json.loads(meta.read_text())
        if not mp4.is_file():
            return None
        return Ladder(mp4, tuple(Rendition(**r) for r in data["renditions"]),
                      float(data["duration_s"]), bool(data["has_audio"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None  # absent or from an older version: encode again


def make_ladder(source: Path, rungs: tuple[Rung, ...], cache_dir: Path) -> Ladder:
    """`source` encoded into `rungs` and measured: from the cache when it is there."""
    source = Path(source)
    if not source.is_file():
        raise PublisherError(f"source video {source} does not exist")
    if not rungs:
        raise PublisherError("a ladder needs at least one rung")
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    name = _cache_name(source, rungs)
    mp4, meta = cache_dir / f"{name}.mp4", cache_dir / f"{name}.json"
    found = _load(mp4, meta)
    if found is not None:
        return found
    with open(cache_dir / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a parallel run encodes it meanwhile: wait for it
        found = _load(mp4, meta)
        if found is not None:
            return found
        tag = f"{os.getpid()}.{threading.get_ident()}.tmp"
        tmp, tmp_meta = cache_dir / f".{name}.{tag}.mp4", cache_dir / f".{name}.{tag}.json"
        try:
            _encode(source, rungs, _probe_source(source), tmp)
            ladder = measure(tmp, rungs)
            tmp_meta.write_text(json.dumps({
                "source": str(source), "ladder": ladder_text(rungs),
                "duration_s": ladder.duration_s, "has_audio": ladder.has_audio,
                "renditions": [json.loads(r.to_json()) for r in ladder.renditions]}))
            os.replace(tmp, mp4)
            os.replace(tmp_meta, meta)
        finally:
            for leftover in (tmp, tmp_meta):
                with contextlib.suppress(FileNotFoundError):
                    leftover.unlink()
    return Ladder(mp4, ladder.renditions, ladder.duration_s, ladder.has_audio)
