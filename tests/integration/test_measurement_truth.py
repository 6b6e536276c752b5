"""Proof that streamperf's figures match independent readings of the same stream.

Each test compares against something streamperf did not compute: nginx-rtmp's
own /stat counters, ffprobe's view of the source file, ffmpeg's RTMP client
reading the stream in parallel, and a bandwidth cap set with tc. They fail
if a metric is off by more than the stated margin.
"""

from __future__ import annotations

import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamperf.load.broadcast import stream_name
from streamperf.results.eventlog.rows import read_events
from streamperf.session import StreamperfSession
from streamperf.settings import RunSettings
from tests.support.schedule import at_times

pytestmark = pytest.mark.realtime


@pytest.fixture
def session(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StreamperfSession]:
    """A stack per test (so xdist can spread these long tests over its workers); the
    lone viewer's calibration only where a test reads it."""
    calibrate = "latency" in request.node.name
    s = StreamperfSession(RunSettings(report_dir=str(tmp_path / "reports"),
                                      calibration_s=5.0 if calibrate else 0.0))
    yield s
    s.close()


# Its checks (bitrate against nginx's counters and the source, media time against wall
# time, no lag, no stall, the viewers' own process never saturated) hold on a busy
# machine: `make test` runs it beside the CPU-heavy tests of its first phase.
@pytest.mark.busy_ok
def test_bitrate_and_media_time_on_an_unimpaired_two_minute_run(session):
    stream = session.stream()
    media = session.platform().media
    name = stream_name(stream.ingest_url)
    readings: list[tuple[float, int, int]] = []  # (time, bytes_out, players)

    def read_stat() -> None:
        st = media.stat()[name]
        readings.append((time.time(), st.bytes_out, st.players))

    # nginx's own byte counter over the steady state. Its bw_out figure is not
    # used: it reads about 10% high here (bw_in does too, against the source's
    # known bitrate), while bytes_out deltas match the bytes that crossed lo.
    with at_times((20.0, read_stat), (110.0, read_stat)):
        outcome = session.run_load("truth-2min", {"users": 8, "ramp_s": 0.2,
                                                  "duration_s": 120.0}, stream)
    assert len(readings) == 2 and readings[0][2] == readings[1][2] == 8
    (t1, out1, players), (t2, out2, _) = readings
    server_kbps = (out2 - out1) * 8 / 1000 / (t2 - t1) / players
    v = outcome.analysis.viewers
    viewer_kbps = float(v["mean_kbps"].mean())
    source_kbps = stream.source.bitrate_kbps
    print(f"viewer {viewer_kbps:.1f} kbps, nginx bytes_out per client {server_kbps:.1f}, "
          f"source {source_kbps:.1f}")
    assert abs(viewer_kbps / server_kbps - 1) < 0.03
    assert abs(viewer_kbps / source_kbps - 1) < 0.03
    assert (abs(v["mean_kbps"] / source_kbps - 1) < 0.03).all(), v["mean_kbps"].tolist()

    media_error = (v["media_s"] / v["watched_s"] - 1).abs()
    print(f"media-time error: max {media_error.max():.4f}")
    assert (media_error < 0.02).all(), v[["viewer", "media_s", "watched_s"]]
    assert (v["max_drift_s"] <= outcome.analysis.lag_threshold_s).all()
    assert int(v["stalls"].sum()) == 0
    assert not outcome.breaches, outcome.message()
    # Two minutes beside the suite's other runs: the machine as a whole may be busy for
    # a few seconds (that makes a run invalid, as it should); the viewers' own process
    # and event loop, whose figures are checked above, must not have been.
    reasons = (outcome.invalid or "").removeprefix("load generator saturated: ").split("; ")
    assert all(": host CPU over" in r for r in reasons if r), outcome.message()


def _flv_tag_latencies(url: str, t0: float, seconds: float) -> list[tuple[float, float]]:
    """(arrival, latency) per FLV tag as ffmpeg's own RTMP client delivers them."""
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin",
           "-fflags", "nobuffer", "-analyzeduration", "0", "-probesize", "32768",
           "-i", url, "-c", "copy", "-copyts", "-flush_packets", "1", "-t", str(seconds),
           "-f", "flv", "pipe:1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0)
    assert proc.stdout is not None
    out: list[tuple[float, float]] = []

    def read_exact(n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = proc.stdout.read(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    try:
        read_exact(9 + 4)  # FLV header + PreviousTagSize0
        while True:
            head = read_exact(11)
            arrival = time.time()
            size = int.from_bytes(head[1:4], "big")
            ts = int.from_bytes(head[4:7], "big") | (head[7] << 24)
            read_exact(size + 4)
            if head[0] in (8, 9):
                out.append((arrival, arrival - (t0 + ts / 1000)))
    except EOFError:
        pass
    finally:
        proc.kill()
        proc.wait()
    return out


def test_rtmp_latency_matches_ffmpegs_reading(session):
    stream = session.stream()
    url = session.platform().media.rtmp_url(stream_name(stream.ingest_url))
    independent: list[tuple[float, float]] = []
    reader = threading.Thread(
        target=lambda: independent.extend(_flv_tag_latencies(url, stream.t0, 20.0)))
    reader.start()
    outcome = session.run_load("truth-latency", {"users": 3, "ramp_s": 0.1,
                                                 "duration_s": 18.0}, stream)
    reader.join(timeout=30)
    samples = outcome.analysis.samples
    start = samples["t"].min() + 5  # past ffmpeg's probing and both players' start
    ours = samples[samples["t"] > start]["latency_s"].median()
    theirs = statistics.median(lat for at, lat in independent if at > start)
    print(f"latency: streamperf {ours:.3f} s, ffmpeg {theirs:.3f} s, "
          f"lone viewer at origin {stream.origin_latency_s:.3f} s")
    assert len(independent) > 100
    assert abs(ours - theirs) < 0.5
    assert stream.origin_latency_s is not None and abs(stream.origin_latency_s - theirs) < 0.5


def test_impaired_viewers_are_flagged_and_recover_when_the_cap_lifts(session, capped_port):
    # RTMP and HLS viewers in one run (a protocol mix), each protocol's port capped at
    # half of what its own viewers need together, from before they join.
    stream = session.stream()
    media = session.platform().media
    per_protocol = 6
    need = int(per_protocol * stream.source.bitrate_kbps / 2)
    caps = [capped_port(media.rtmp_port, need), capped_port(media.http_port, need)]
    # Long enough for HLS (first media 6-8 s after joining) to be flagged under the cap,
    # then 16 s to show that no new stall starts once it is lifted.
    lift_after_s = 24.0
    lifted: list[float] = []

    def lift() -> None:
        for cap in caps:
            cap.lift()
        lifted.append(time.time())

    with at_times((lift_after_s, lift)):
        outcome = session.run_load("truth-impaired", {
            "users": 2 * per_protocol, "ramp_s": 0.1, "duration_s": 40.0,
            "protocol_mix": (("rtmp", 50), ("hls", 50))}, stream)
    assert lifted, "the cap was never lifted"
    a = outcome.analysis
    df = read_events(outcome.events_path)
    first = df[df["event"].isin(["first_audio", "first_video"])].groupby("viewer")["t"].min()
    lagged = a.samples[a.samples["drift_s"] > a.lag_threshold_s].groupby("viewer")["t"].min()
    stalled = a.stall_starts.groupby("viewer")["t"].min()
    protocol_of = a.viewers.set_index("viewer")["protocol"]
    for protocol in ("rtmp", "hls"):
        assert (protocol_of == protocol).sum() == per_protocol, protocol_of.to_dict()
        # A shared cap is not shared fairly: a viewer whose first segment came late had too
        # little of the cap left to fall 3 s behind. Those with 10 s of it must be flagged.
        firsts = first.reindex(protocol_of.index[protocol_of == protocol])
        mine = firsts.index[firsts <= lifted[0] - 10.0]
        assert len(mine) >= per_protocol // 2, f"{protocol}: first media {firsts.to_dict()}"
        to_lag = (lagged.reindex(mine) - first.reindex(mine)).dropna()
        to_stall = (stalled.reindex(mine) - first.reindex(mine)).dropna()
        print(f"{protocol}: {len(mine)} viewers under the cap 10 s or more; time to flag lagged: "
              f"max {to_lag.max():.1f} s; to first stall: max {to_stall.max():.1f} s")
        assert len(to_lag) == len(mine) and (to_lag < 20).all(), protocol
        assert len(to_stall) == len(mine) and (to_stall < 20).all(), protocol
    late = a.stall_starts[a.stall_starts["t"] > lifted[0] + 2.0]
    assert late.empty, f"stalls began after the cap lifted: {late.to_dict('records')}"
