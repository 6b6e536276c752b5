"""Any stream by URL: the perf scenarios against an nginx-rtmp streamperf did not configure.

The test plays the user: it writes a plain nginx-rtmp config itself (an
RTMP application with HLS, and an http block serving the HLS files), starts
nginx on free loopback ports (`nginx -c CONF -p DIR`), publishes with plain
ffmpeg, and runs `pytest tests/perf --play-url ...` as a user would. Both
processes are stopped by PID.
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from streamperf.media.server import find_rtmp_module, free_port
from tests.support.direct_runs import passed_with_media, run_direct
from tests.support.processes import terminate

pytestmark = [pytest.mark.own_pytest, pytest.mark.realtime]
KEY = "userstream"


@dataclass
class UserServer:
    rtmp_port: int
    http_port: int
    dir: Path

    def rtmp_url(self, key: str = KEY) -> str:
        return f"rtmp://127.0.0.1:{self.rtmp_port}/live/{key}"

    def hls_url(self, key: str = KEY) -> str:
        return f"http://127.0.0.1:{self.http_port}/hls/{key}.m3u8"


def _config(d: Path, rtmp: int, http: int) -> str:
    user = "user root root;\n" if os.geteuid() == 0 else ""  # HLS files in our temp dir
    return f"""{user}load_module {find_rtmp_module()};
daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 1024; }}
rtmp {{
    server {{
        listen 127.0.0.1:{rtmp};
        application live {{
            live on;
            hls on;
            hls_path {d}/hls;
            hls_fragment 2s;
            hls_playlist_length 10s;
        }}
    }}
}}
http {{
    access_log off;
    client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp; fastcgi_temp_path {d}/tmp;
    uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp;
    server {{
        listen 127.0.0.1:{http};
        location /hls {{
            types {{ application/vnd.apple.mpegurl m3u8; video/mp2t ts; }}
            alias {d}/hls;
            add_header Cache-Control no-cache;
        }}
    }}
}}
"""


@pytest.fixture(scope="module")
def user_server(tmp_path_factory: pytest.TempPathFactory, clip: Path) -> Iterator[UserServer]:
    """nginx-rtmp from the user's own config, with plain ffmpeg publishing KEY."""
    d = tmp_path_factory.mktemp("user-nginx")
    (d / "tmp").mkdir()
    (d / "hls").mkdir()
    server = UserServer(free_port(), free_port(), d)
    conf = d / "nginx.conf"
    conf.write_text(_config(d, server.rtmp_port, server.http_port))
    nginx = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(d)],
                             stdout=subprocess.DEVNULL, stderr=open(d / "stderr", "wb"))  # noqa: SIM115
    ffmpeg: subprocess.Popen[bytes] | None = None
    try:
        time.sleep(0.5)
        assert nginx.poll() is None, (d / "stderr").read_text() + (d / "error.log").read_text()
        ffmpeg = subprocess.Popen(
            ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-re",
             "-stream_loop", "-1", "-i", str(clip), "-c", "copy", "-f", "flv",
             server.rtmp_url()],
            stdout=subprocess.DEVNULL, stderr=open(d / "ffmpeg.log", "wb"))  # noqa: SIM115
        deadline = time.monotonic() + 20
        while True:  # the HLS playlist exists once a few fragments are out
            try:
                with urllib.request.urlopen(server.hls_url(), timeout=2) as r:
                    if b"#EXTINF" in r.read():
                        break
            except OSError:
                pass
            assert ffmpeg.poll() is None, (d / "ffmpeg.log").read_text()
            assert time.monotonic() < deadline, "no HLS playlist within 20 s"
            time.sleep(0.5)
        yield server
    finally:
        if ffmpeg is not None:
            terminate(ffmpeg)
        terminate(nginx)


def test_play_url_rtmp_watches_a_stream_someone_else_publishes(user_server, tmp_path):
    proc, summaries = run_direct(tmp_path, "--play-url", user_server.rtmp_url(),
                                 "--users", "10", "--duration", "10s", "-k", "steady_audience")
    passed_with_media(proc, summaries, runs=1, users=10)
    for s in summaries:
        m = s["metrics"]
        # No publisher, so no publish clock: latency is "not measurable", never 0.
        assert m["latency_basis"] == "not measurable"
        assert m["latency_p50_s"] is None and m["latency_p95_s"] is None
        # The source bitrate was measured from the stream (the clip is ~1.05 Mbps).
        assert m["source_kbps_basis"] == "measured"
        assert 800 < m["source_kbps"] < 1400, m["source_kbps"]
        assert m["min_bitrate_ratio"] > 0.9
        na = " ".join(s["verdict"].get("not_applicable", []))
        assert "api_errors" in na, s["verdict"]
    assert "not measurable" in proc.stdout
    assert "(measured)" in proc.stdout


def test_play_url_hls_of_the_same_server(user_server, tmp_path):
    proc, summaries = run_direct(tmp_path, "--play-url", user_server.hls_url(),
                                 "--users", "20", "--duration", "20s", "-k", "join_storm",
                                 "--source-kbps", "1050")
    passed_with_media(proc, summaries, runs=1, users=20)
    m = summaries[0]["metrics"]
    assert m["source_kbps"] == 1050 and m["source_kbps_basis"] == "given"
    assert m["latency_basis"] == "not measurable"  # nginx-rtmp's HLS carries no PDT


def test_ingest_url_and_play_url_publish_and_play(user_server, tmp_path):
    key = "streamperf-own"
    proc, summaries = run_direct(tmp_path, "--ingest-url", user_server.rtmp_url(key),
                                 "--play-url", user_server.rtmp_url(key),
                                 "--users", "20", "--duration", "10s", "-k", "join_storm")
    passed_with_media(proc, summaries, runs=1, users=20)
    m = summaries[0]["metrics"]
    assert m["latency_basis"] == "publish clock"
    assert m["latency_p50_s"] is not None and 0 <= m["latency_p50_s"] < 3
    assert m["source_kbps_basis"] == "file"
