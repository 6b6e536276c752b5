"""An ABR ladder as data: the rungs asked for (`--ladder`) and the renditions measured.

Plain data only, so that the option parser (option_values.py) can name these
types without loading the encoder; media/ladder.py makes and measures them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

#: `--ladder default` (or a bare `--ladder`): three rungs like a small live platform's
DEFAULT_WORD = "default"


@dataclass(frozen=True)
class Rung:
    """One rendition asked for: its name, video bitrate and height (None: the source's)."""

    name: str
    video_kbps: int
    height: int | None = None

    def spec(self) -> str:
        """As `--ladder` takes it: `720p:2400k`, or `hi:2400k:720p` when the name is
        not the height."""
        implied = self.height is not None and self.name == f"{self.height}p"
        tail = "" if implied or self.height is None else f":{self.height}p"
        return f"{self.name}:{self.video_kbps}k{tail}"


DEFAULT_LADDER: tuple[Rung, ...] = (
    Rung("720p", 2400, 720), Rung("480p", 1100, 480), Rung("240p", 350, 240))


def ladder_text(rungs: tuple[Rung, ...]) -> str:
    """The canonical `--ladder` text of `rungs` (also the encode cache's key)."""
    return ",".join(r.spec() for r in rungs)


@dataclass(frozen=True)
class Rendition:
    """One encoded rendition as ffprobe and a dry run of the HLS muxer measured it."""

    name: str
    width: int
    height: int
    video_kbps: float  # the video stream alone (ffprobe), no container bytes
    audio_kbps: float  # the shared audio stream (ffprobe); 0 without audio
    codecs: str  # RFC 6381, e.g. "avc1.4d401f,mp4a.40.2"
    frame_rate: float
    hls_peak_kbps: float  # the largest 2 s MPEG-TS segment: the master's BANDWIDTH
    hls_avg_kbps: float  # all TS segments: AVERAGE-BANDWIDTH
    dash_id: str  # its Representation@id in the MPD (ffmpeg numbers the streams)

    @property
    def kbps(self) -> float:
        """Video plus audio, as a viewer of this rendition receives them (no container)."""
        return round(self.video_kbps + self.audio_kbps, 1)

    @property
    def resolution(self) -> str:
        return f"{self.width}x{self.height}"

    def to_json(self) -> str:
        """One line, for the `source` row's detail (docs/events.md)."""
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Rendition:
        return cls(**json.loads(text))
