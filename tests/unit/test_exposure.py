"""The bundled platform beyond loopback (issue 24, item 9): refused unless allowed, and
its seed-mode origin port relays to nginx only what nginx may trust as local.
Everything here stays on loopback: 127.0.0.2 stands for another machine."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from streamperf.media.shared_port import FORBIDDEN, SharedPort
from streamperf.platforms.reference.server import PlatformExposedError, ReferencePlatform
from tests.support.loopback_servers import port_free


def test_listening_beyond_loopback_needs_allow_exposed(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str],
                                                       ) -> None:
    with pytest.raises(PlatformExposedError, match="--allow-exposed"):
        ReferencePlatform(tmp_path, host="10.0.0.1")  # refused before anything is made
    assert not (tmp_path / "media").exists()
    from streamperf.platforms.reference.server import serve

    assert serve(["--host", "10.0.0.1", "--workdir", str(tmp_path / "w")]) == 2
    err = capsys.readouterr().err
    assert "--allow-exposed" in err and err.count("\n") == 1


def test_the_origin_port_relays_rtmp_and_stat_only_for_this_machine() -> None:
    async def main() -> dict[str, bytes]:
        got: dict[str, bytes] = {}

        async def upstream(kind: str, reader: asyncio.StreamReader,
                           writer: asyncio.StreamWriter) -> None:
            got[kind] = got.get(kind, b"") + await reader.read(100)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            writer.close()

        rtmp = await asyncio.start_server(lambda r, w: upstream("rtmp", r, w), "127.0.0.1", 0)
        http = await asyncio.start_server(lambda r, w: upstream("http", r, w), "127.0.0.1", 0)
        front = await SharedPort("127.0.0.1", 0, rtmp=rtmp.sockets[0].getsockname()[:2],
                                 http=http.sockets[0].getsockname()[:2],
                                 local=lambda ip: ip == "127.0.0.1").start()
        assert front._server is not None
        port = front._server.sockets[0].getsockname()[1]

        async def ask(source: str, data: bytes) -> bytes:
            reader, writer = await asyncio.open_connection("127.0.0.1", port,
                                                           local_addr=(source, 0))
            writer.write(data)
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(200), 5)
            writer.close()
            return answer

        rtmp_c0 = b"\x03" + bytes(1536)
        got["far rtmp"] = await ask("127.0.0.2", rtmp_c0)  # a publisher from elsewhere
        got["far stat"] = await ask("127.0.0.2", b"GET /stat HTTP/1.1\r\nHost: x\r\n\r\n")
        got["far redirect"] = await ask("127.0.0.2", b"GET /redirect/live/u HTTP/1.1\r\n\r\n")
        got["near rtmp"] = await ask("127.0.0.1", rtmp_c0)
        got["near stat"] = await ask("127.0.0.1", b"GET /stat HTTP/1.1\r\n\r\n")
        await front.close()
        for s in (rtmp, http):
            s.close()
        return got

    if not port_free(0, "127.0.0.2"):
        pytest.skip("127.0.0.2 is not usable here")
    got = asyncio.run(main())
    assert got["far rtmp"] == b""  # closed, nothing relayed from it
    assert got["far stat"] == FORBIDDEN
    assert got["far redirect"].startswith(b"HTTP/1.1 200")  # the edge lookup is public
    assert got["near rtmp"].startswith(b"HTTP/1.1 200") and got["rtmp"].startswith(b"\x03")
    assert got["near stat"].startswith(b"HTTP/1.1 200")
    assert got["http"].count(b"GET /stat") == 1  # only this machine's /stat went through
