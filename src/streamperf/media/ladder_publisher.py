"""The ladder published live: one ffmpeg, `-re -stream_loop -1 -c copy`, three outputs.

From the ladder file (media/ladder.py) one process writes the HLS variants,
the DASH manifest and segments into a directory the media server serves
(media/server.py `/ladder`), and pushes the top rendition to the RTMP ingest
(what RTMP and HTTP-FLV viewers play, and what nginx's stat page shows
publishing), and for the bundled LL-HLS origin (`rungs_to_rtmp`) the lower
renditions as streams of their own (ladder_outputs.rung_stream). One process,
so one publish clock: T0 is taken from its progress as for the single stream
(Publisher.start), and HLS PTS (less 0.7 s), DASH fMP4 times and FLV timestamps all count from it
(media/ladder_outputs.py says why each does). Its death, a restart and its
log are the Publisher's.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from streamperf.media.ladder import Ladder
from streamperf.media.ladder_outputs import (
    MASTER,
    MPD,
    SEGMENT_S,
    dash_output,
    hls_output,
    master_playlist,
    media_playlist,
    rtmp_output,
    rung_rtmp_outputs,
)
from streamperf.media.publisher import Publisher, SourceInfo, looping_input


class LadderPublisher(Publisher):
    """`ladder` looped live as HLS + DASH into `out_dir`, its top rendition to `ingest_url`."""

    def __init__(self, ladder: Ladder, ingest_url: str, out_dir: Path, run_dir: Path,
                 utc_timing_url: str | None = None, rungs_to_rtmp: bool = False) -> None:
        super().__init__(ladder.path, ingest_url, run_dir)
        self.ladder = ladder
        self.out_dir = Path(out_dir)
        self.utc_timing_url = utc_timing_url
        #: the lower rungs pushed too, each a stream of its own (for the LL-HLS origin)
        self.rungs_to_rtmp = rungs_to_rtmp

    def command(self) -> list[str]:
        lad = self.ladder
        names = [r.name for r in lad.renditions]
        # warning, not info: the muxers log every segment they open, 4 lines per 2 s
        return [*looping_input(lad.path, loglevel="warning"),
                *rtmp_output(lad.has_audio, self.ingest_url),
                *(rung_rtmp_outputs(names, lad.has_audio, self.ingest_url)
                  if self.rungs_to_rtmp else []),
                *hls_output(names, lad.has_audio, self.out_dir),
                *dash_output(len(names), lad.has_audio, self.out_dir, self.utc_timing_url)]

    def probe(self) -> SourceInfo:
        """The top rendition's figures (what RTMP and a `highest` HLS viewer get) and
        every rendition's; gop_s is the forced key-frame interval."""
        lad = self.ladder
        return SourceInfo(lad.top.kbps, lad.duration_s, float(SEGMENT_S), lad.renditions)

    @property
    def manifests(self) -> list[Path]:
        """What a viewer loads first: the master, each media playlist, the MPD."""
        return [self.out_dir / MASTER, self.out_dir / MPD,
                *(self.out_dir / media_playlist(r.name) for r in self.ladder.renditions)]

    def _written_since(self, since: float) -> bool:
        try:
            return all(p.stat().st_mtime >= since for p in self.manifests[1:])
        except FileNotFoundError:
            return False

    def start(self, timeout: float = 10, ready: Callable[[], bool] | None = None) -> float:
        """As Publisher.start, and ready once the RTMP ingest is (`ready`) and this
        process has written every media playlist and the MPD (the first segments are
        in): a viewer that starts then finds the stream whole."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        master = self.out_dir / MASTER
        tmp = master.with_name(f".{MASTER}.{os.getpid()}.tmp")
        tmp.write_text(master_playlist(self.ladder.renditions))
        os.replace(tmp, master)  # never half a master for a viewer that loads it now
        # mtimes, not existence: after a restart the dead process's files are there (the
        # first playlist is written a segment after the start, far beyond mtime's ticks)
        since = time.time()

        def whole() -> bool:
            return (ready is None or ready()) and self._written_since(since)

        # the first segments take SEGMENT_S, and the MPD waits for every stream's
        return super().start(max(timeout, 15.0), whole)
