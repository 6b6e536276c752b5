"""The stopping steps the RTMP and HTTP-FLV viewers share (viewers/base.py SocketViewerSteps).

Both viewers fail, end and close through the one copy of the steps: an error is one
row naming the viewer's URL (RTMP the URL asked for, HTTP-FLV the URL played after
redirects), later failures add nothing, and the connection is aborted once. Checked
on the steps directly and on real loopback sockets.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from streamperf.viewers.base import VIEWER_ERROR, EventCallback, SocketViewerSteps
from streamperf.viewers.flv.viewer import FlvViewer
from streamperf.viewers.rtmp.viewer import RtmpViewer

Row = tuple[str, str, float, str]
MakeViewer = Callable[[str, EventCallback], RtmpViewer | FlvViewer]
VIEWERS: dict[str, tuple[MakeViewer, str]] = {  # protocol: (make one, its URL for a port)
    "rtmp": (lambda url, cb: RtmpViewer(url, cb, connect_timeout=5.0),
             "rtmp://127.0.0.1:{port}/live/s"),
    "flv": (lambda url, cb: FlvViewer(url, cb, connect_timeout=5.0),
            "http://127.0.0.1:{port}/live/s.flv"),
}


class CountingTransport:
    """Stands in for the viewer's connection: counts aborts."""

    def __init__(self) -> None:
        self.aborts = 0

    def abort(self) -> None:
        self.aborts += 1


@pytest.mark.parametrize("protocol", sorted(VIEWERS))
def test_a_failure_is_one_row_and_stops_the_viewer_once(protocol: str) -> None:
    make, url_form = VIEWERS[protocol]
    url = url_form.format(port=9)
    rows: list[Row] = []

    async def main() -> None:
        viewer = make(url, lambda *row: rows.append(row))
        assert isinstance(viewer, SocketViewerSteps)
        transport = CountingTransport()
        viewer._transport = transport  # type: ignore[assignment]
        viewer._done = done = asyncio.get_running_loop().create_future()
        viewer.playing = True
        viewer._fail("protocol", "bad bytes")
        viewer._fail("timeout", "too late")  # already stopped: not reported
        viewer.close()
        viewer._end()
        assert (transport.aborts, viewer._transport, done.done()) == (1, None, True)
        assert (viewer.playing, viewer._closed, viewer.error) == (False, True, "protocol")

    asyncio.run(main())
    assert rows == [(VIEWER_ERROR, "protocol", 0.0, f"{url}: bad bytes")]


def test_the_flv_error_row_names_the_url_played_after_redirects() -> None:
    rows: list[Row] = []
    viewer = FlvViewer("http://127.0.0.1:9/a.flv", lambda *row: rows.append(row))
    viewer.final_url = "http://127.0.0.1:9/edge/a.flv"
    viewer._fail("disconnect", "gone")
    assert rows == [(VIEWER_ERROR, "disconnect", 0.0, "http://127.0.0.1:9/edge/a.flv: gone")]


async def _server(hang_up: bool, accepted: asyncio.Event, eof: asyncio.Event) -> asyncio.Server:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set()
        try:
            if hang_up:  # a clean end of the server's side, whatever the viewer sent
                writer.write_eof()
            while await reader.read(65536):  # until the viewer's side is gone
                pass
            eof.set()
        except ConnectionError:
            eof.set()
        finally:
            writer.close()

    return await asyncio.start_server(serve, "127.0.0.1", 0)


@pytest.mark.parametrize("protocol", sorted(VIEWERS))
def test_a_server_that_hangs_up_is_one_disconnect_row(protocol: str) -> None:
    make, url_form = VIEWERS[protocol]
    rows: list[Row] = []

    async def main() -> str:
        accepted, eof = asyncio.Event(), asyncio.Event()
        server = await _server(True, accepted, eof)
        url = url_form.format(port=server.sockets[0].getsockname()[1])
        viewer = make(url, lambda *row: rows.append(row))
        try:
            async with asyncio.timeout(5):
                await viewer.run(30.0)  # returns at the hang-up, not after 30 s
        finally:
            server.close()
        assert (viewer.playing, viewer._closed, viewer.error) == (False, True, "disconnect")
        return url

    url = asyncio.run(main())
    assert len(rows) == 1, rows
    kind, name, value, detail = rows[0]
    assert (kind, name, value) == (VIEWER_ERROR, "disconnect", 0.0)
    assert detail.startswith(f"{url}: server closed the connection"), detail


@pytest.mark.parametrize("protocol", sorted(VIEWERS))
def test_close_from_another_task_ends_run_without_a_row(protocol: str) -> None:
    make, url_form = VIEWERS[protocol]
    rows: list[Row] = []

    async def main() -> None:
        accepted, eof = asyncio.Event(), asyncio.Event()
        server = await _server(False, accepted, eof)
        url = url_form.format(port=server.sockets[0].getsockname()[1])
        viewer = make(url, lambda *row: rows.append(row))
        try:
            async with asyncio.timeout(5):
                run = asyncio.create_task(viewer.run(30.0))
                await accepted.wait()
                viewer.close()
                await run
                await eof.wait()  # the server saw the connection go
        finally:
            server.close()
        assert (viewer.playing, viewer._closed, viewer.error, viewer._transport) == (
            False, True, None, None)

    asyncio.run(main())
    assert rows == []
