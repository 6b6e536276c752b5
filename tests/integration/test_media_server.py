"""nginx-rtmp launcher against the real nginx."""

from __future__ import annotations

import socket
from pathlib import Path

import psutil
import pytest

from streamperf.media.server import MediaServer, MediaServerError, parse_stat

pytestmark = [pytest.mark.integration, pytest.mark.realtime]


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def test_start_answers_and_stat_parses(media_server: MediaServer) -> None:
    assert media_server.pid is not None and psutil.pid_exists(media_server.pid)
    assert _accepts(media_server.host, media_server.rtmp_port)
    assert _accepts(media_server.host, media_server.http_port)
    assert media_server.stat() == {} or isinstance(media_server.stat(), dict)
    xml = media_server.stat_xml()
    assert "<nginx_rtmp_version>" in xml
    assert media_server.ingest_url("x") == f"rtmp://127.0.0.1:{media_server.rtmp_port}/live/x"
    assert media_server.hls_url("x") == f"http://127.0.0.1:{media_server.http_port}/hls/x.m3u8"
    # nginx wrote nothing outside its work dir
    conf = media_server.conf_path.read_text()
    assert "/var/" not in conf and "/run/" not in conf


def test_stat_sees_publisher(published_stream) -> None:
    server, _pub = published_stream
    st = server.stat()["test"]
    assert st.publishing and st.bytes_in > 0
    pubs = [c for c in st.clients if c["publishing"]]
    assert len(pubs) == 1 and pubs[0]["address"] == "127.0.0.1"


def test_stop_kills_pid_and_frees_ports(tmp_path: Path) -> None:
    server = MediaServer(tmp_path).start()
    pid = server.pid
    assert pid is not None
    workers = [c.pid for c in psutil.Process(pid).children()]
    server.stop()
    server.stop()  # idempotent
    assert server.pid is None
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert not any(psutil.pid_exists(w) for w in workers)
    for port in (server.rtmp_port, server.http_port):
        assert not _accepts("127.0.0.1", port)
        with socket.socket() as s:  # port can be bound again
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        server = MediaServer(tmp_path, rtmp_port=port)
        with pytest.raises(MediaServerError) as err:
            server.start(timeout=5)
    msg = str(err.value)
    assert f"127.0.0.1:{port}" in msg and "Address already in use" in msg
    assert "\n" not in msg
    assert server.pid is None


def test_parse_stat_rejects_garbage() -> None:
    with pytest.raises(MediaServerError, match="unparseable"):
        parse_stat("<rtmp><oops")
