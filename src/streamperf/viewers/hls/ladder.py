"""An HLS master playlist as the ABR player sees it (viewers/abr), and the
alternate audio track a variant names (EXT-X-MEDIA TYPE=AUDIO with a URI).

The audio track is followed as a player does: its own media playlist, reloaded
by the same rules as the video's, its new segments fetched once each over a
connection of its own (a browser fetches audio beside video). Its bytes count
in the viewer's bitrate, as muxed-in audio does; the media clock stays the
video's.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from streamperf.viewers.abr.policy import AbrPolicy, make_abr
from streamperf.viewers.abr.rendition import Rendition, rendition_name
from streamperf.viewers.hls.bodies import PlaylistBody, parse_playlist_memo
from streamperf.viewers.hls.playlist import (
    MasterPlaylist,
    MediaPlaylist,
    live_start_index,
    reload_wait,
)
from streamperf.viewers.http.client import HttpClient
from streamperf.viewers.http.connection import GetError, ResponseSink
from streamperf.viewers.reload_grid import sleep_to_grid

AUDIO_HOLD_BACK_TARGETS = 3.0  # as the video: three target durations behind the edge


def renditions_of(master: MasterPlaylist) -> list[Rendition]:
    """The variants as renditions, in the playlist's order (a player's first level
    is the first listed). A variant listed twice (same URI) counts once."""
    taken: set[str] = set()
    seen: set[str] = set()
    out = []
    for v in master.variants:
        if v.uri in seen:
            continue
        seen.add(v.uri)
        out.append(Rendition(rendition_name(v.bandwidth, v.resolution, taken), v.bandwidth,
                             v.uri, v.resolution, v.codecs, v.frame_rate, v.average_bandwidth))
    return out


def open_ladder(master: MasterPlaylist, mode: str) -> tuple[AbrPolicy, Rendition, str | None]:
    """The ABR policy over a master playlist's variants, its start rendition, and the
    URI of the audio track to follow beside it (None: audio is in the variant's
    segments). ValueError for a mode naming no rendition."""
    policy = make_abr(mode, renditions_of(master))
    r = policy.start()
    variant = next(v for v in master.variants if v.uri == r.key)
    audio = master.audio_for(variant)
    return policy, r, audio.uri if audio is not None else None


class AudioViewer(Protocol):
    """What the audio track reads and writes of its viewer (HlsViewer is one)."""

    bytes_received: int
    connect_timeout: float
    _closed: bool


class _Count(ResponseSink):
    """An audio segment: only counted, into the viewer's bytes."""

    __slots__ = ("viewer",)
    scanning = False

    def __init__(self, viewer: AudioViewer) -> None:
        self.viewer = viewer

    def head(self, status: int, length: int | None) -> None:
        if status != 200:
            raise GetError("status", f"HTTP {status}")

    def skipped(self, n: int) -> None:
        self.viewer.bytes_received += n


async def follow_audio(viewer: AudioViewer, url: str, http: HttpClient) -> None:
    """Fetch the audio track at `url` until the viewer closes. Failures wait for the
    next reload: the video's errors are what the viewer reports."""
    loop = asyncio.get_running_loop()
    next_seq: int | None = None
    prev_last: int | None = None
    while not viewer._closed:
        began = loop.time()
        td = 1.0
        changed = False
        try:
            sink = PlaylistBody(viewer, url)  # type: ignore[arg-type]  # counts bytes only
            resp = await http.get(url, viewer.connect_timeout, sink)
            if resp.status == 200:
                pl = parse_playlist_memo(b"".join(sink.chunks), resp.url)
                if isinstance(pl, MediaPlaylist) and pl.segments:
                    td = pl.target_duration
                    changed = prev_last is None or pl.last_sequence > prev_last
                    prev_last = pl.last_sequence
                    if next_seq is None or next_seq < pl.media_sequence:
                        hold = AUDIO_HOLD_BACK_TARGETS * td
                        next_seq = pl.segments[live_start_index(pl, hold)].sequence
                    for seg in pl.segments:
                        if seg.sequence >= next_seq and not viewer._closed:
                            next_seq = seg.sequence + 1
                            await http.get(seg.uri, viewer.connect_timeout + 2 * seg.duration,
                                           _Count(viewer))
        except GetError:
            pass
        except Exception:  # whatever the audio answers, the video plays on
            pass
        await sleep_to_grid(began + reload_wait(td, changed))


__all__ = ["AudioViewer", "follow_audio", "open_ladder", "renditions_of"]
