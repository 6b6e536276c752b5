"""The ladder's outputs, as ffmpeg arguments and the HLS master playlist's text.

One home for how a ladder file (media/ladder.py: one MP4, video streams top
rendition first, then one audio stream) becomes HLS and DASH, so the dry run
that measures the segments and the live publisher write them alike.

Measured on ffmpeg 5.1 (Debian 12), and why the arguments are what they are:
- its HLS muxer adds `-muxdelay` twice to the TS timestamps: 0.35 s gives PTS =
  publish ts + 0.7 s, what nginx-rtmp's hls_muxdelay gives and the HLS viewer
  takes off (viewers/hls `pts_offset_s`), so media time is the publisher's;
- its master playlist has no CODECS from MP4 (avcC) input, and its BANDWIDTH is
  the nominal bitrate + 10%, below the peak of a low rendition's TS segments
  (audio and TS overhead weigh more there): the master is written here instead;
- its DASH muxer names segments `$Number$` even with a SegmentTimeline unless
  told otherwise; `$Time$` names them by their timeline (`-use_timeline 1`);
  `-streaming 0` writes each segment to a .tmp and renames it when complete, so
  nginx never serves half a segment; fMP4 times start at publish ts 0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from streamperf.media.rungs import Rendition

SEGMENT_S = 2  # key frames every 2 s in every rendition: segments align across them
#: segments in the live window of both manifests (12 s), and kept on disk beyond it
#: for viewers that loaded the window just before it moved
WINDOW_SEGMENTS = 6
KEPT_BEYOND = 4
MASTER = "master.m3u8"
MPD = "live.mpd"
#: HLS muxer flags of the live outputs: capture clock, every segment starts on a
#: key frame, the window's old segments removed, each written under a temp name
LIVE_HLS_FLAGS = "program_date_time+independent_segments+delete_segments+temp_file"
#: the TS mux delay that yields nginx-rtmp's 0.7 s PTS offset (module docstring)
HLS_MUXDELAY = "0.35"


def media_playlist(name: str) -> str:
    return f"{name}.m3u8"


def hls_output(names: Sequence[str], has_audio: bool, out_dir: Path,
               live: bool = True) -> list[str]:
    """Every rendition as an HLS variant with the audio muxed in (`-var_stream_map`).
    `live`: a sliding window with PROGRAM-DATE-TIME, numbered from the epoch second so
    that a restarted publisher's numbers still grow; else every segment kept (the
    dry run that measures them)."""
    maps: list[str] = []
    streams = []
    for i, name in enumerate(names):
        maps += ["-map", f"0:v:{i}"] + (["-map", "0:a:0"] if has_audio else [])
        streams.append(f"v:{i}" + (f",a:{i}" if has_audio else "") + f",name:{name}")
    window = (["-hls_list_size", str(WINDOW_SEGMENTS), "-hls_delete_threshold",
               str(KEPT_BEYOND), "-hls_flags", LIVE_HLS_FLAGS,
               "-hls_start_number_source", "epoch"] if live
              else ["-hls_list_size", "0", "-hls_flags", "independent_segments"])
    return [*maps, "-c", "copy", "-muxdelay", HLS_MUXDELAY, "-f", "hls",
            "-hls_time", str(SEGMENT_S), *window,
            "-var_stream_map", " ".join(streams),
            "-hls_segment_filename", str(out_dir / "%v_%d.ts"), str(out_dir / "%v.m3u8")]


def dash_id(index: int) -> str:
    """The Representation@id ffmpeg gives the `index`-th video stream (its output
    stream index: the videos first, then the audio)."""
    return str(index)


def dash_output(count: int, has_audio: bool, out_dir: Path,
                utc_timing_url: str | None) -> list[str]:
    """A dynamic MPD: one video adaptation set with every rendition, one audio set,
    `$Time$` templates over a SegmentTimeline. `utc_timing_url` answers the time
    (dash.js refuses a live MPD without UTCTiming)."""
    maps = [arg for i in range(count) for arg in ("-map", f"0:v:{i}")]
    maps += ["-map", "0:a:0"] if has_audio else []
    sets = "id=0,streams=v" + (" id=1,streams=a" if has_audio else "")
    timing = ["-utc_timing_url", utc_timing_url] if utc_timing_url else []
    return [*maps, "-c", "copy", "-f", "dash", "-seg_duration", str(SEGMENT_S),
            "-use_template", "1", "-use_timeline", "1", "-streaming", "0",
            "-window_size", str(WINDOW_SEGMENTS), "-extra_window_size", str(KEPT_BEYOND),
            "-init_seg_name", "init-$RepresentationID$.m4s",
            "-media_seg_name", "chunk-$RepresentationID$-$Time$.m4s",
            "-adaptation_sets", sets, *timing, str(out_dir / MPD)]


def rtmp_output(has_audio: bool, ingest_url: str) -> list[str]:
    """The top rendition to the RTMP ingest: what RTMP and HTTP-FLV viewers play."""
    return ["-map", "0:v:0", *(["-map", "0:a:0"] if has_audio else []),
            "-c", "copy", "-f", "flv", ingest_url]


#: between a stream's name and a lower rung's: `<user>_source__480p` (the top rung is
#: the stream itself)
RUNG_SEP = "__"


def rung_stream(stream: str, name: str) -> str:
    """The RTMP stream name a lower rung of `stream` is pushed as."""
    return f"{stream}{RUNG_SEP}{name}"


def rung_rtmp_outputs(names: Sequence[str], has_audio: bool, ingest_url: str) -> list[str]:
    """Every rung but the top to the RTMP ingest as a stream of its own (rung_stream,
    the ingest URL's query kept): what an LL-HLS origin pulling RTMP needs of a ladder."""
    base, sep, query = ingest_url.partition("?")
    out: list[str] = []
    for i, name in enumerate(names[1:], start=1):
        out += ["-map", f"0:v:{i}", *(["-map", "0:a:0"] if has_audio else []),
                "-c", "copy", "-f", "flv", f"{rung_stream(base, name)}{sep}{query}"]
    return out


def master_playlist(renditions: Sequence[Rendition],
                    uri: Callable[[Rendition], str] = lambda r: media_playlist(r.name)) -> str:
    """RFC 8216 master playlist: BANDWIDTH the peak TS segment's bitrate, AVERAGE-
    BANDWIDTH all segments', and the CODECS and RESOLUTION players choose by; each
    variant's URI is `uri(rendition)`."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:6", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for r in renditions:
        lines += [f"#EXT-X-STREAM-INF:BANDWIDTH={round(r.hls_peak_kbps * 1000)},"
                  f"AVERAGE-BANDWIDTH={round(r.hls_avg_kbps * 1000)},"
                  f"RESOLUTION={r.resolution},FRAME-RATE={r.frame_rate:.3f},"
                  f'CODECS="{r.codecs}"',
                  uri(r)]
    return "\n".join(lines) + "\n"
