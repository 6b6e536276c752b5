"""Fuzz properties of every parser streamperf has: whatever it is fed, it returns
a result or raises its documented error, never another exception, in bounded time.

One table, PROPERTIES, shared by tests/unit/test_fuzz_parsers.py (a bounded
count: hypothesis profile "ci") and benchmarks/fuzz.py (a long run: profile
"fuzz", `--examples N`). Real bytes seed the inputs: the recorded nginx-rtmp,
Node-Media-Server HTTP-FLV and nginx HLS sessions in tests/data, mutated
(bytes replaced, cut, fed in pieces), besides plain random bytes and text.

Parsers and their documented errors:
  RTMP chunks   viewers/rtmp/chunks.py ChunkParser.feed_data  RtmpProtocolError
  AMF0          viewers/rtmp/amf.py decode                         AmfError
  FLV tags      viewers/flv/tags.py FlvTagParser.feed_data    FlvProtocolError
  HTTP-FLV      viewers/http/body.py head + body framing, FLV  HttpProtocolError,
                  tags behind it (as viewers/flv/viewer.py chains them) FlvProtocolError
  MPEG-TS       viewers/formats/mpegts.py TsScanner.feed              none (never raises)
  m3u8          viewers/hls/playlist.py parse_playlist            PlaylistError
  SLA           results/judging/sla.py parse                          SlaError
  events.csv    results/eventlog/schema.py read_events, iter_rows      EventLogError, ValueError
  events.csv    results/eventlog/columnar.py read_log (what report and  EventLogError, read_events'
                  summary read), against read_events             word for word
  seed log      results/eventlog/seed_log.py read_seed                 SeedLogError (ValueError)
  llhls rows    results/analysis/origin_load.py origin_load: any          none (never raises)
                  names, counts and wait details
"""

from __future__ import annotations

import io
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from streamperf.results.eventlog import schema as ev
from streamperf.results.eventlog import seed_log
from streamperf.results.eventlog.rows import iter_rows, read_events
from streamperf.results.judging import sla
from streamperf.results.judging.metrics import FUNCTIONS, METRICS
from streamperf.viewers.flv import tags as flv_tags
from streamperf.viewers.formats import mpegts
from streamperf.viewers.hls import playlist
from streamperf.viewers.http import body as http_body
from streamperf.viewers.rtmp import amf
from streamperf.viewers.rtmp import chunks as rtmp_chunks

from .flv_recordings import RECORDINGS, dechunk, split_response

DATA = Path(__file__).resolve().parents[1] / "data"
HANDSHAKE = 1 + 1536 + 1536  # S0 + S1 + S2 ahead of the chunk stream in the recordings
#: One input must be parsed within this (seconds; generous for a loaded 2-core machine).
MAX_SECONDS_PER_INPUT = 5.0

# "ci": what the test suite runs (bounded); "fuzz": benchmarks/fuzz.py sets the count.
settings.register_profile("ci", max_examples=100, deadline=None, derandomize=False,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.data_too_large])
settings.register_profile("fuzz", max_examples=100_000, deadline=None,
                          suppress_health_check=list(HealthCheck))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# --- seeds: real bytes --------------------------------------------------------------------

def _rtmp_streams() -> list[bytes]:
    return [(DATA / name).read_bytes()[HANDSHAKE:HANDSHAKE + 40_000]
            for name in ("nginx_play_c4096.bin", "nginx_play_extts_c1000.bin")]


def _amf_payloads() -> list[bytes]:
    """The AMF0 command payloads nginx-rtmp really sent (connect result, onStatus, ...)."""
    out = []
    for stream in _rtmp_streams():
        parser = rtmp_chunks.ChunkParser()
        for found in parser.feed_data(stream):
            if isinstance(found, rtmp_chunks.Message) and found.mtype in (
                    rtmp_chunks.COMMAND_AMF0, 18):  # command, data (onMetaData)
                out.append(bytes(found.payload))
    return out or [amf.encode("_result", 1.0, {"a": 1.0}, None)]


def _flv_bodies() -> list[bytes]:
    return [dechunk(split_response(rec)[1])[:40_000] for rec in RECORDINGS.values()]


def _http_flv() -> list[bytes]:
    """Whole HTTP responses: head and chunked body, as Node-Media-Server sent them."""
    return [rec[:40_000] for rec in RECORDINGS.values()]


def _ts_segments() -> list[bytes]:
    return [p.read_bytes() for p in sorted(DATA.glob("*.ts"))]


def _playlists() -> list[str]:
    return [p.read_text() for p in sorted(DATA.glob("*.m3u8"))] + [
        "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360\nlow.m3u8\n"
        "#EXT-X-STREAM-INF:BANDWIDTH=2000000\nhigh/index.m3u8\n"]


SEEDS: dict[str, list[Any]] = {}


def seeds(kind: str) -> list[Any]:
    """Seed inputs of a kind, read once."""
    if kind not in SEEDS:
        SEEDS[kind] = {"rtmp": _rtmp_streams, "amf": _amf_payloads, "flv": _flv_bodies,
                       "http_flv": _http_flv, "ts": _ts_segments, "m3u8": _playlists}[kind]()
    return SEEDS[kind]


# --- strategies ---------------------------------------------------------------------------

@st.composite
def mutated(draw: Any, kind: str, max_len: int = 16_384) -> bytes:
    """A slice of a real recording with a few bytes replaced, inserted or cut."""
    seed = draw(st.sampled_from(seeds(kind)))
    start = draw(st.one_of(st.just(0), st.integers(0, max(0, len(seed) - 1))))
    data = bytearray(seed[start:start + draw(st.integers(0, max_len))])
    for _ in range(draw(st.integers(0, 6))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        how = draw(st.sampled_from(("set", "insert", "cut", "ff")))
        byte = draw(st.integers(0, 255))
        if how == "set":
            data[at] = byte
        elif how == "insert":
            data[at:at] = bytes([byte]) * draw(st.integers(1, 8))
        elif how == "cut":
            del data[at:at + draw(st.integers(1, 64))]
        else:  # the largest values of length and timestamp fields
            data[at:at + 4] = b"\xff\xff\xff\xff"
    return bytes(data)


def binary_for(kind: str) -> st.SearchStrategy[bytes]:
    return st.one_of(st.binary(max_size=4096), mutated(kind))


#: how the bytes arrive: the sizes of successive reads (cycled)
READS = st.lists(st.integers(1, 5000), min_size=1, max_size=6)


def _pieces(data: bytes, reads: list[int]) -> list[bytes]:
    out, pos, k = [], 0, 0
    while pos < len(data):
        n = reads[k % len(reads)]
        out.append(data[pos:pos + n])
        pos, k = pos + n, k + 1
    return out


@st.composite
def m3u8_texts(draw: Any) -> str:
    """Playlists line by line: real ones mutated, and lines made of m3u8's own tags."""
    if draw(st.booleans()):
        lines = draw(st.sampled_from(seeds("m3u8"))).splitlines()
    else:
        lines = ["#EXTM3U"]
    tags = ["#EXTM3U", "#EXTINF:", "#EXT-X-TARGETDURATION:", "#EXT-X-MEDIA-SEQUENCE:",
            "#EXT-X-ENDLIST", "#EXT-X-PROGRAM-DATE-TIME:", "#EXT-X-STREAM-INF:",
            "#EXT-X-DISCONTINUITY", "#EXT-X-VERSION:", "seg.ts", "a/b.m3u8", ""]
    values = st.one_of(st.sampled_from(["2.0,", "nan", "inf", "-1", "1e400", "9" * 30,
                                        "18446744073709551616", "2024-01-01T00:00:00Z",
                                        "BANDWIDTH=1,RESOLUTION=1x1", 'BANDWIDTH="x"', ",",
                                        "0", "3.5,title"]),
                       st.text(max_size=30))
    for _ in range(draw(st.integers(0, 8))):
        at = draw(st.integers(0, len(lines)))
        lines.insert(at, draw(st.sampled_from(tags)) + draw(values))
    if lines and draw(st.booleans()):
        del lines[draw(st.integers(0, len(lines) - 1))]
    return "\n".join(lines)


NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["1e999", "-1e999", "9" * 400, "0", ".5", "1.", "1e-400", "nan", "inf",
                     "+3", "--1", "1e", "0x10", "1_000"]),
    st.integers().map(str))


@st.composite
def sla_texts(draw: Any) -> str:
    """`FUNC(METRIC) OP NUMBER [UNIT] [after D]`, each part right or wrong."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.text(max_size=60))
    func = draw(st.one_of(st.sampled_from(sorted(FUNCTIONS)), st.sampled_from(
        ["p95", "p0", "p100", "p99.9", "p1e3", "pnan", "p-5"]), st.text(max_size=5)))
    metric = draw(st.one_of(st.sampled_from(sorted(METRICS)), st.text(max_size=10)))
    op = draw(st.sampled_from(["<", "<=", ">", ">=", "==", "!=", "=", "<>", "off", ""]))
    unit = draw(st.sampled_from(["", "s", "ms", "%", "kbps", "Mbps", "x", "m", "h"]))
    after = draw(st.one_of(st.just(""), NUMBERS.map(lambda n: f" after {n}s"),
                           st.sampled_from([" after", " after 5m", " after 1e999h"])))
    return f"{func}({metric}) {op} {draw(NUMBERS)} {unit}{after}"


FIELD = st.one_of(st.sampled_from(["", "h", "fan1", "bytes", "media_ts", "api", "play",
                                   "run_start", "run_end", "host", "cpu_pct", "200"]),
                  NUMBERS, st.text(max_size=12))


@st.composite
def event_logs(draw: Any) -> bytes:
    """events.csv bytes: the header and rows of mostly-right fields, or raw bytes."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.binary(max_size=2000))
    rows = [",".join(ev.COLUMNS)] if draw(st.integers(0, 5)) else []
    for _ in range(draw(st.integers(0, 12))):
        n = draw(st.sampled_from([8, 8, 8, 8, 7, 9, 1]))
        fields = [draw(FIELD) for _ in range(n)]
        if draw(st.booleans()):
            fields[0] = draw(st.floats(0, 2e9).map(lambda f: f"{f:.3f}"))
        if n > 5 and draw(st.booleans()):
            fields[5] = draw(st.floats(-1e6, 1e6).map(lambda f: f"{f:g}"))
        rows.append(",".join(f.replace("\n", " ") if draw(st.booleans()) else f
                             for f in fields))
    text = "\n".join(rows) + ("\n" if draw(st.booleans()) else "")
    data = text.encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 6)) == 0:  # a stray byte: NUL, a bad UTF-8 byte, a quote
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from([b"\0", b"\xff", b'"', b"\r"])) + data[at:]
    return data


LLHLS_NAMES = st.one_of(st.sampled_from([*ev.llhls_rows.REQUEST_KINDS, ev.llhls_rows.BLOCKED,
                                         ev.llhls_rows.EARLY, ev.llhls_rows.WAIT]),
                        st.text(max_size=8))
WAIT_TOKEN = st.one_of(st.integers(0, 10**15).map(str), NUMBERS, st.text(max_size=6),
                       st.sampled_from(["", " 12 ", "+7", "-5", "inf", "nan", "1e400", "."]))


@st.composite
def llhls_frames(draw: Any) -> Any:
    """LLHLS rows (and a few play and bytes rows) as read_events gives them: names right
    or wrong, counts anywhere a finite float goes, wait details of any tokens."""
    import pandas as pd

    rows = []
    for _ in range(draw(st.integers(0, 12))):
        viewer = draw(st.sampled_from(["a", "b", "c"]))
        t = draw(st.floats(0, 1e6, allow_nan=False))
        kind = draw(st.sampled_from([ev.LLHLS] * 6 + [ev.PLAY, ev.SAMPLE_BYTES]))
        detail = ",".join(draw(st.lists(WAIT_TOKEN, max_size=5)))
        value = draw(st.floats(-1e300, 1e300, allow_nan=False, allow_infinity=False))
        rows.append((t, "h", viewer, kind, draw(LLHLS_NAMES), value, "", detail[:300]))
    return pd.DataFrame(rows, columns=list(ev.COLUMNS))


def check_llhls(df: Any) -> None:
    """Any LLHLS rows give figures or nothing: requests a second finite and >= 0, waits
    finite and >= 0, early ratios within 0..1; the summary is JSON."""
    import json

    import numpy as np

    from streamperf.results.analysis import origin_load
    from streamperf.results.eventlog.columnar import EventLog

    log = EventLog.of(df)
    o = origin_load.origin_load(log, log.frame[log.frame["viewer"] != ""], 0.0)
    if o is None:
        assert not (df["event"] == ev.LLHLS).any()
        return
    rps = o.viewers[[c for c in o.viewers if c.endswith("_rps")]].to_numpy(float)
    assert np.isfinite(rps).all() and (rps >= 0).all()
    w = o.waits["wait_s"].to_numpy(float)
    assert np.isfinite(w).all() and (w >= 0).all()
    ratio = o.viewers["early_ratio"].dropna().to_numpy(float)
    assert ((ratio >= 0) & (ratio <= 1)).all()
    json.dumps(origin_load.summary(o), allow_nan=False)


@st.composite
def seed_logs(draw: Any) -> str:
    """Seed tool logs `session,seconds,metric,value`: real metric names, odd figures."""
    sessions = st.sampled_from(["testfan1", "testfan2", "m1", "m2", ""])
    seconds = st.one_of(st.floats(0, 120).map(lambda f: f"{f:.2f}"), NUMBERS)
    metrics = st.one_of(st.sampled_from(sorted(seed_log.SEED_METRICS)), st.text(max_size=8))
    values = st.one_of(st.sampled_from(["m1", "m2", "warning", "critical", ""]), NUMBERS)
    rows = []
    if draw(st.integers(0, 4)) == 0:
        rows.append(",".join(seed_log.SEED_HEADER))
    for _ in range(draw(st.integers(0, 25))):
        n = draw(st.sampled_from([4, 4, 4, 4, 3, 5]))
        row = [draw(sessions), draw(seconds), draw(metrics), draw(values)] + ["x"] * (n - 4)
        rows.append(",".join(row[:n]))
    return "\n".join(rows) + "\n"


# --- checks -------------------------------------------------------------------------------

def check_rtmp(data: bytes, reads: list[int]) -> None:
    parser = rtmp_chunks.ChunkParser()
    for piece in _pieces(data, reads):
        try:
            parser.feed_data(piece)
        except rtmp_chunks.RtmpProtocolError:
            assert parser.state is rtmp_chunks.FAILED
            try:  # documented: every later feed raises too
                parser.feed_data(b"\x02")
            except rtmp_chunks.RtmpProtocolError:
                return
            raise AssertionError("fed after a protocol error without one") from None
        assert len(parser.carry) <= rtmp_chunks.MAX_HEADER


def check_amf(data: bytes) -> None:
    try:
        values = amf.decode(data)
    except amf.AmfError:
        return
    assert isinstance(values, list)


def check_flv(data: bytes, reads: list[int]) -> None:
    parser = flv_tags.FlvTagParser()
    for piece in _pieces(data, reads):
        try:
            parser.feed_data(piece)
        except flv_tags.FlvProtocolError:
            return


def check_http_flv(data: bytes, reads: list[int]) -> None:
    cut = data.find(b"\r\n\r\n")
    if cut < 0 or cut > http_body.MAX_HEAD:
        return  # the viewer waits for more, then gives up at MAX_HEAD
    try:
        head = http_body.parse_response_head(data[:cut])
        head.content_length  # noqa: B018 - raises on a bad Content-Length
        parser = flv_tags.FlvTagParser()
        framing = http_body.body_framing(head, parser.feed)
        for piece in _pieces(data[cut + 4:], reads):
            buf = bytearray(piece)
            framing.feed(buf, 0, len(buf))
    except (http_body.HttpProtocolError, flv_tags.FlvProtocolError):
        return


def check_ts(data: bytes, reads: list[int]) -> None:
    scanner = mpegts.TsScanner(want_both=True)
    for piece in _pieces(data, reads):
        scanner.feed(piece)
    for pts in (scanner.first_pts, scanner.video_pts, scanner.audio_pts):
        assert pts is None or 0 <= pts < mpegts.PTS_WRAP


def check_m3u8(text: str) -> None:
    try:
        pl = playlist.parse_playlist(text, "http://127.0.0.1/live/index.m3u8")
    except playlist.PlaylistError:
        return
    if isinstance(pl, playlist.MediaPlaylist):
        assert 0 <= playlist.live_start_index(pl) <= max(0, len(pl.segments) - 1)
        assert all(math.isfinite(s.duration) and s.duration > 0 for s in pl.segments)
    else:
        for how in playlist.VARIANT_CHOICES:
            playlist.choose_variant(pl.variants, how)


def check_sla(text: str) -> None:
    try:
        th = sla.parse(text)
    except sla.SlaError as exc:
        assert "\n" not in str(exc) or "\n" in text  # one line, unless it quotes one
        return
    assert math.isfinite(th.limit)
    assert th.after_s is None or math.isfinite(th.after_s)
    str(th)
    th.limit_text  # noqa: B018


def check_events(data: bytes) -> None:
    try:
        df = read_events(io.BytesIO(data))
    except ev.EventLogError:
        pass
    else:
        import numpy as np

        assert list(df.columns[: len(ev.COLUMNS)]) == list(ev.COLUMNS) or set(
            ev.COLUMNS) <= set(df.columns)
        assert np.isfinite(df["t"].to_numpy(dtype=float)).all()
    text = data.decode("utf-8", "replace")
    try:
        for row in iter_rows(text):
            assert math.isfinite(row.t) and math.isfinite(row.value)
    except ValueError:
        pass


def check_read_log(data: bytes) -> None:
    """read_log (pyarrow, what `report` and `summary` read) refuses what read_events
    refuses, with its very words, and takes what it takes: its t and value finite,
    no more rows (a short row, a crash's cut line, it leaves out)."""
    import tempfile

    from streamperf.results.eventlog.columnar import read_log

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.csv"
        path.write_bytes(data)
        try:
            want = read_events(path)
        except ev.EventLogError as exc:
            want = exc
        try:
            got = read_log(path)
        except ev.EventLogError as exc:
            assert isinstance(want, ev.EventLogError), f"read_log refused: {exc}"
            assert str(exc) == str(want)
            return
        # A quoted field cut by the end of the file (a crash mid-line): read_log leaves
        # that row out, as it does a row cut elsewhere; read_events refuses the log.
        cut = isinstance(want, ev.EventLogError) and "EOF inside string" in str(want)
        assert not isinstance(want, ev.EventLogError) or cut, f"read_log took: {want}"
        if cut:
            return
    import numpy as np

    assert got.rows <= len(want)
    assert np.isfinite(got.frame["t"].to_numpy(float)).all()
    for s in got.samples.values():
        assert np.isfinite(s.t).all() and not np.isinf(s.value).any()


def check_seed(text: str) -> None:
    try:
        df = seed_log.read_seed(io.StringIO(text))
    except seed_log.SeedLogError:
        return
    import numpy as np

    assert np.isfinite(df[["t", "value"]].to_numpy(dtype=float)).all()
    assert len(df) <= 1 + 10 * max(seed_log.MAX_SECONDS,
                                   seed_log.SAMPLES_PER_ROW * (text.count("\n") + 1))


@dataclass(frozen=True)
class Property:
    name: str
    strategy: st.SearchStrategy[Any]
    check: Callable[..., None]

    def run(self, example: Any) -> None:
        """The check, on one input (a tuple is the check's arguments), timed."""
        start = time.monotonic()
        if isinstance(example, tuple):
            self.check(*example)
        else:
            self.check(example)
        took = time.monotonic() - start
        assert took < MAX_SECONDS_PER_INPUT, f"{self.name}: one input took {took:.1f} s"


PROPERTIES: dict[str, Property] = {p.name: p for p in (
    Property("rtmp_chunks", st.tuples(binary_for("rtmp"), READS), check_rtmp),
    Property("amf", st.one_of(st.binary(max_size=2048), mutated("amf", 4096)), check_amf),
    Property("flv_tags", st.tuples(binary_for("flv"), READS), check_flv),
    Property("http_flv", st.tuples(binary_for("http_flv"), READS), check_http_flv),
    Property("mpegts", st.tuples(binary_for("ts"), READS), check_ts),
    Property("m3u8", st.one_of(m3u8_texts(), st.text(max_size=500)), check_m3u8),
    Property("sla", sla_texts(), check_sla),
    Property("events_csv", event_logs(), check_events),
    Property("events_csv_read_log", event_logs(), check_read_log),
    Property("seed_log", st.one_of(seed_logs(), st.text(max_size=300)), check_seed),
    Property("llhls_rows", llhls_frames(), check_llhls),
)}
