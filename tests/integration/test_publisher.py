"""ffmpeg publisher and clip against real ffmpeg and nginx-rtmp."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from streamperf.media.publisher import (
    Publisher,
    PublisherError,
    probe_source,
    synthetic_clip,
)
from streamperf.media.server import MediaServer

pytestmark = [pytest.mark.integration, pytest.mark.realtime]


def test_clip_is_cached(clip: Path) -> None:
    mtime = clip.stat().st_mtime_ns
    again = synthetic_clip(clip.parent)
    assert again == clip and again.stat().st_mtime_ns == mtime
    assert not list(clip.parent.glob(".*.tmp"))


def test_probe_gives_steady_bitrate_and_gop(clip: Path) -> None:
    info = probe_source(clip)
    assert 1000 <= info.bitrate_kbps <= 1100
    assert 29.5 <= info.duration_s <= 30.5
    assert info.gop_s == pytest.approx(2.0, abs=0.05)


def test_probe_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(PublisherError, match=r"nope\.flv does not exist"):
        probe_source(tmp_path / "nope.flv")


def test_publish_clock_matches_server(published_stream) -> None:
    server, pub = published_stream
    assert pub.alive() and pub.t0 is not None
    st = server.stat()["test"]
    (client,) = [c for c in st.clients if c["publishing"]]
    # the server's last received timestamp tracks wall time since T0
    expected_ms = (time.time() - pub.t0) * 1000
    assert abs(client["timestamp"] - expected_ms) < 300


def test_killed_publisher_is_seen_and_log_survives(
    media_server: MediaServer, clip: Path, tmp_path: Path
) -> None:
    pub = Publisher(clip, media_server.ingest_url("killme"), tmp_path)
    pub.start(ready=lambda: media_server.is_publishing("killme"))
    assert pub.alive() and pub.pid is not None
    os.kill(pub.pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while pub.alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pub.alive()
    assert pub.returncode == -signal.SIGKILL
    assert pub.log_path.is_file() and "Input #0" in pub.log_tail(50)
    pub.stop()  # idempotent after death


def test_unreachable_server_is_a_clear_error(clip: Path, tmp_path: Path) -> None:
    with socket_closed_port() as port:
        url = f"rtmp://127.0.0.1:{port}/live/x"
    pub = Publisher(clip, url, tmp_path)
    with pytest.raises(PublisherError) as err:
        pub.start(timeout=5)
    assert url in str(err.value) and "\n" not in str(err.value)
    assert not pub.alive()


class socket_closed_port:
    """A loopback port nobody listens on."""

    def __enter__(self) -> int:
        import socket

        self.s = socket.socket()
        self.s.bind(("127.0.0.1", 0))
        return int(self.s.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        self.s.close()


def test_timestamps_keep_rising_across_loop(media_server: MediaServer, tmp_path: Path) -> None:
    """-stream_loop -1 -c copy: what a player receives never steps back at the loop seam."""
    import subprocess

    short = synthetic_clip(tmp_path / "cache", seconds=2)
    with Publisher(short, media_server.ingest_url("loop"), tmp_path) as pub:
        pub.start(ready=lambda: media_server.is_publishing("loop"))
        out = subprocess.run(
            ["ffprobe", "-v", "error", "-read_intervals", "%+#300",
             "-show_entries", "packet=stream_index,dts", "-of", "csv=p=0",
             media_server.rtmp_url("loop")],
            capture_output=True, text=True, timeout=20,
        ).stdout  # fmt: skip
    rows = [tuple(map(int, line.split(","))) for line in out.split()]
    assert rows[-1][1] - rows[0][1] > 3000  # crossed at least one 2 s seam
    last: dict[int, int] = {}
    for stream, dts in rows:
        if stream in last:
            step = dts - last[stream]
            assert 0 < step <= 60, (stream, last[stream], dts)
        last[stream] = dts
