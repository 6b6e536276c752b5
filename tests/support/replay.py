"""Loopback servers that play scripted bytes to a viewer: a media server's recorded answers
(tests/data/*.bin), cut, paced or followed by garbage.

A script is a list of steps, played in order: bytes to send, a float of seconds to
wait, None to close the connection. A replay reads all a client sends (kept in
`received`, one bytearray per connection) but answers none of it: it starts its
script once the client has said enough to be answered (an RTMP client's C0+C1, an
HTTP request's head), since the recording already holds the server's answers to
what a viewer says next.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from tests.support.loopback_servers import LoopbackServer

Step = bytes | float | None  # bytes to send, seconds to wait, None to close
C0C1 = 1 + 1536  # what an RTMP client sends before the server's S0+S1+S2


class Replay(LoopbackServer):
    """Plays `script(key)` to each client, `key` being what `said` makes of its words."""

    def __init__(self, script: Callable[[Any], list[Step]]) -> None:
        super().__init__()
        self.script = script
        self.received: list[bytearray] = []

    def said(self, heard: bytearray, index: int) -> Any:
        """The script's key once connection `index` has sent `heard`, or None: wait for more."""
        raise NotImplementedError

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        heard = bytearray()
        self.received.append(heard)
        index = len(self.received) - 1
        more = asyncio.Event()
        drain = asyncio.ensure_future(self._drain(reader, heard, more))
        try:
            while (key := self.said(heard, index)) is None:
                if drain.done():
                    return  # gone before it said enough
                more.clear()
                await more.wait()
            for step in self.script(key):
                if step is None:
                    return
                if isinstance(step, float):
                    await asyncio.sleep(step)
                else:
                    writer.write(step)
                    await writer.drain()
            await drain  # hold the connection open until the viewer leaves
        finally:
            drain.cancel()

    @staticmethod
    async def _drain(reader: asyncio.StreamReader, into: bytearray, more: asyncio.Event) -> None:
        try:
            while data := await reader.read(65536):
                into += data
                more.set()
        finally:
            more.set()  # the end is news too


class RtmpReplay(Replay):
    """A recorded RTMP server: `script(i)` to the i-th connection, after its C0+C1."""

    def said(self, heard: bytearray, index: int) -> int | None:
        return index if len(heard) >= C0C1 else None

    def url(self, name: str = "rec") -> str:
        return f"rtmp://127.0.0.1:{self.port}/live/{name}"


class HttpReplay(Replay):
    """A recorded HTTP server: `script(path)` once the request's head is in (path as sent,
    query included); `requests` holds each connection's head."""

    def said(self, heard: bytearray, index: int) -> str | None:
        if b"\r\n\r\n" not in heard:
            return None
        return heard.split(b" ", 2)[1].decode()

    @property
    def requests(self) -> list[bytes]:
        return [bytes(r[: r.index(b"\r\n\r\n") + 4]) for r in self.received if b"\r\n\r\n" in r]

    def url(self, path: str = "/live/rec.flv") -> str:
        return f"http://127.0.0.1:{self.port}{path}"
