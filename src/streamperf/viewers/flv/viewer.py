"""Native asyncio HTTP-FLV viewer: GET the stream, then count bytes and FLV
tag timestamps until the play time is up.

The same cost discipline as the RTMP viewer (rtmp/viewer.py, DESIGN section 9):
- reads go through asyncio.BufferedProtocol into ONE buffer per event
  loop, shared by all FLV viewers of that loop; nothing keeps a reference
  into it between reads;
- the HTTP framing (viewers/http/body.py: chunked, Content-Length or until
  close) is stripped by offset and the FLV tag parser (tags.py) skips tag
  data by offset: the steady state builds no objects per tag or per chunk;
- SO_RCVLOWAT, set once the first video frame is in, batches reads to
  rcvlowat_ms of media (viewers/read_batching.py, shared with RTMP).
HTTPS works the same way over asyncio's TLS transport. Redirects (301,
302, 303, 307, 308) are followed up to MAX_REDIRECTS times, as players do.

FLV tag timestamps are the publisher's media time, so `media_ts_ms` means
what it means for RTMP: latency needs the publish clock T0 (docs/metrics.md).
"""

from __future__ import annotations

import asyncio
import os
import ssl
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast
from urllib.parse import urljoin, urlsplit

from streamperf import __version__
from streamperf.redirects import DEFAULT_PORTS, MAX_REDIRECTS, REDIRECT_STATUS, refused
from streamperf.viewers.base import (
    FIRST_AUDIO,
    FIRST_VIDEO,
    EventCallback,
    SocketViewerSteps,
    Viewer,
)
from streamperf.viewers.flv.tags import FlvProtocolError, FlvTagParser
from streamperf.viewers.formats.flv_media import FirstFrame
from streamperf.viewers.http.body import (
    MAX_HEAD,
    BodyFraming,
    HttpProtocolError,
    body_framing,
    parse_response_head,
)
from streamperf.viewers.per_loop import PerLoop
from streamperf.viewers.read_batching import ReadBatching

READ_SIZE = 65536

def _read_buffer(loop: asyncio.AbstractEventLoop) -> tuple[bytearray, memoryview]:
    buf = bytearray(READ_SIZE)
    return buf, memoryview(buf)


_buffers = PerLoop(_read_buffer)  # one read buffer per event loop


def parse_http_url(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path with query) of an http(s):// URL; ValueError if not one."""
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"not an http(s):// URL: {url}")
    port = parts.port or DEFAULT_PORTS[parts.scheme]  # ValueError for a port out of range
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port, path


class FlvViewer(SocketViewerSteps, ReadBatching, asyncio.BufferedProtocol):
    """One HTTP-FLV player (the contract: viewers.base.Viewer; stopping: SocketViewerSteps)."""

    protocol = "flv"

    def __init__(
        self,
        url: str,
        on_event: EventCallback,
        connect_timeout: float = 10.0,
        rcvlowat_ms: float = 200.0,
        expected_kbps: float | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        #: the FLV tag parser this protocol feeds the response body to
        self.parser = FlvTagParser()
        self.url = url
        self.on_event = on_event
        self.connect_timeout = connect_timeout
        self._init_batching(rcvlowat_ms, expected_kbps)
        self.ssl_context = ssl_context
        self.bytes_received = 0
        self.playing = False
        #: time.time() when run() began, and when the first video frame was complete
        self.play_requested_wall: float | None = None
        self.first_video_wall: float | None = None
        #: the HTTP status of the last response (0 before one)
        self.status = 0
        #: the URL played after redirects
        self.final_url = url
        self.error: str | None = None
        self._transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._view: memoryview | None = None
        self._head: bytearray | None = bytearray()  # response head until complete
        self._body: BodyFraming | None = None
        self._slow = True  # head, first video or bitrate estimate still in progress
        self._stale_lost = 0  # connection_lost calls of redirected connections to ignore
        self._redirect: str | None = None
        #: what run() awaits: resolved when the current connection is over (a redirect
        #: to follow, or the viewer stopped)
        self._done: asyncio.Future[None] | None = None
        self._request = b""
        self._closed = False

    # --- the Viewer API ---------------------------------------------------
    async def run(self, duration: float) -> None:
        loop = asyncio.get_running_loop()
        self.play_requested_wall = time.time()
        self._buf, self._view = _buffers.get(loop)
        end_timer = loop.call_later(duration, self._end)
        setup_timer = loop.call_later(self.connect_timeout, self._setup_timeout)
        deadline = loop.time() + self.connect_timeout
        try:
            url = self.url
            for _ in range(MAX_REDIRECTS + 1):
                if self._closed:
                    return
                self._redirect = None
                self.final_url = url
                if not await self._connect(loop, url, deadline):
                    return
                done = self._done
                assert done is not None
                await done
                if self._redirect is None:
                    return
                url = self._redirect
            self._fail("protocol", f"more than {MAX_REDIRECTS} redirects (last to {url})")
        finally:
            end_timer.cancel()
            setup_timer.cancel()
            self._shutdown()

    async def _connect(self, loop: asyncio.AbstractEventLoop, url: str, deadline: float) -> bool:
        try:
            scheme, host, port, path = parse_http_url(url)
        except ValueError as e:
            self._fail("connect", str(e))
            return False
        self._done = loop.create_future()
        self._head = bytearray()
        self._body = None
        self._request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"User-Agent: streamperf/{__version__}\r\nAccept: */*\r\n"
            "Accept-Encoding: identity\r\nConnection: close\r\n\r\n"
        ).encode("latin-1", "replace")
        tls: ssl.SSLContext | None = None
        if scheme == "https":
            tls = self.ssl_context or ssl.create_default_context()
        try:
            async with asyncio.timeout_at(deadline):
                await loop.create_connection(
                    lambda: self, host, port, ssl=tls, server_hostname=host if tls else None
                )
        except TimeoutError:
            self._fail("timeout", f"connect not done in {self.connect_timeout:g}s")
            return False
        except (OSError, ssl.SSLError) as e:
            why = os.strerror(e.errno) if e.errno and not isinstance(e, ssl.SSLError) else (
                str(e) or type(e).__name__)
            self._fail("connect", f"connect failed: {why}")
            return False
        return not self._closed

    # --- asyncio protocol -------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport = cast(asyncio.Transport, transport)
        if self._closed:
            transport.abort()
            return
        transport.write(self._request)

    def get_buffer(self, sizehint: int) -> memoryview:
        view = self._view
        assert view is not None
        return view

    def buffer_updated(self, nbytes: int) -> None:
        self.bytes_received += nbytes
        if self._slow:
            self._slow_read(nbytes)
            return
        body = self._body
        assert body is not None
        try:
            found = body.feed(self._buf, 0, nbytes)
        except Exception as e:  # whatever the server sent: this viewer's protocol error
            self._protocol_error(e)
            return
        if found:
            self._handle(found)
        if body.done:
            self._body_ended()

    def eof_received(self) -> bool | None:
        return None  # let the transport close; connection_lost reports it

    def connection_lost(self, exc: Exception | None) -> None:
        if self._stale_lost:
            self._stale_lost -= 1
            return
        self._transport = None
        self.playing = False
        if not self._closed:
            if self._head is not None:
                why = "server closed the connection before the response head"
            else:
                why = f"connection lost: {exc}" if exc else "server closed the connection"
                if not self.parser.at_tag_boundary():
                    why += " mid-tag"
            self._fail("disconnect", why)

    # --- reads before steady state ------------------------------------------
    def _slow_read(self, nbytes: int) -> None:
        start = 0
        if self._head is not None:
            start = self._read_head(nbytes)
            if start < 0 or self._closed:
                return
        body = self._body
        assert body is not None
        if start < nbytes:
            try:
                found = body.feed(self._buf, start, nbytes)
            except Exception as e:
                self._protocol_error(e)
                return
            if found:
                self._handle(found)
            if self._closed:
                return
        if body.done:
            self._body_ended()
            return
        self._slow = self._estimating() or self.parser.first_video_ts < 0

    def _read_head(self, nbytes: int) -> int:
        """Collect the response head; where the body starts in this read (-1: not yet)."""
        head = self._head
        assert head is not None
        before = len(head)
        head += self._buf[:nbytes]
        cut = head.find(b"\r\n\r\n", max(0, before - 3))
        if cut < 0:
            if len(head) > MAX_HEAD:
                self._fail("protocol", f"HTTP response head over {MAX_HEAD} bytes")
            return -1
        self._head = None
        try:
            resp = parse_response_head(bytes(head[:cut]))
            self.status = resp.status
            if resp.status in REDIRECT_STATUS and resp.headers.get("location"):
                target = urljoin(self.final_url, resp.headers["location"])
                why = refused(self.final_url, target, same_origin=False)
                if why is not None:
                    self._fail("protocol", f"{why}; not followed")
                else:
                    self._follow(target)
                return -1
            if resp.status != 200:
                self._fail("protocol", f"HTTP {resp.status} {resp.reason}".rstrip())
                return -1
            self._body = body_framing(resp, self.parser.feed)
        except HttpProtocolError as e:
            self._fail("protocol", str(e))
            return -1
        self.playing = True
        return cut + 4 - before

    def _follow(self, url: str) -> None:
        self._redirect = url
        transport, self._transport = self._transport, None
        if transport is not None:
            self._stale_lost += 1
            transport.abort()
        done = self._done
        if done is not None and not done.done():
            done.set_result(None)

    # --- what the parser found ------------------------------------------------
    def _handle(self, found: Sequence[FirstFrame]) -> None:
        for first in found:
            if not first.video:
                self.on_event(FIRST_AUDIO, "", first.ts / 1000, "")
                continue
            self.first_video_wall = time.time()
            self.on_event(FIRST_VIDEO, "", first.ts / 1000, "")
            self._batch_from_now()  # only from here on: startup figures are not delayed

    def _protocol_error(self, e: Exception) -> None:
        """Never an exception out of buffer_updated (asyncio would log a traceback and
        call it a disconnect); anything but our own parse errors is named."""
        ours = isinstance(e, FlvProtocolError | HttpProtocolError)
        self._fail("protocol", str(e) if ours else f"{type(e).__name__}: {e}")

    def _body_ended(self) -> None:
        self._fail("disconnect", "server ended the stream (end of the HTTP body)")

    # --- helpers ------------------------------------------------------------
    def _setup_timeout(self) -> None:
        if not self.playing and not self._closed:
            stage = "connect" if self._transport is None else "the response head"
            self._fail(
                "timeout", f"no HTTP 200 within {self.connect_timeout:g}s (stuck in {stage})"
            )

    def _error_url(self) -> str:
        return self.final_url  # the URL played, after redirects


__all__ = ["FlvViewer", "parse_http_url"]

if TYPE_CHECKING:  # mypy checks that FlvViewer fits the Viewer protocol
    _fits: type[Viewer] = FlvViewer
