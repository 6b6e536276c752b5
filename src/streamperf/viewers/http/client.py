"""A lean HTTP/1.1 GET client for the HTTP viewers (HLS): one viewer's keep-alive connections.

Why not aiohttp (which the platform code uses, and which this viewer used
before): an HLS viewer makes about one request a second (a playlist every
2 s, a segment every 2 s), and aiohttp's request/response machinery (a
task-shaped request, header multidicts, a StreamReader, a timer re-armed
per read, a bytes object per read) was most of the viewer's CPU: 0.021-
0.027% of a core per viewer at 1,000 viewers, against 0.0075% for
srs-bench's C++ `sb_hls_load` (docs/hls.md, Cost). This client does only
what an HLS player needs:

- one keep-alive connection per origin per viewer (each viewer fetches its
  own playlists and segments, as a real player does: nothing is shared
  that could change what a viewer measures), requests written with one
  send(), a stale keep-alive connection retried once on a new one;
- the response head parsed for what is used (status, Content-Length,
  Transfer-Encoding, Connection, Location), no header dict;
- plain http:// on a non-blocking socket watched with loop.add_reader:
  one recv per wake-up into ONE buffer per event loop; once a sink has
  seen what it needs of a body (a segment's first PTS), the rest of a
  Content-Length body is received with MSG_TRUNC, which the Linux kernel
  discards without copying it to user space, and only counted;
- https:// over asyncio's TLS transport (BufferedProtocol into the same
  buffer), the same parsing; its bytes are counted, not discarded unread;
- chunked bodies (body.py ChunkedBody), bodies until close, redirects;
- no timer per request: one watch per event loop (watch.py) looks at the requests
  in flight every WATCH_TICK_S for their deadline and the no-data stall test
  (a timer made and cancelled per request was a measurable share of the
  viewer's CPU); a timeout is seen at most WATCH_TICK_S late.

The caller's `ResponseSink` sees the head and, while `scanning`, the body's bytes
by offset into the shared buffer (keep no reference between calls); after
that only their count. Here: the client (origins, connections, redirects);
one connection and the request in flight on it: viewers/http/connection.py.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin, urlsplit

from streamperf.redirects import DEFAULT_PORTS, MAX_REDIRECTS, refused
from streamperf.viewers.http.connection import (
    BAD,
    CONNECT,
    NETWORK,
    READ_SIZE,
    STALL,
    TIMEOUT,
    Connection,
    GetError,
    Response,
    ResponseSink,
    StaleConnection,
    reason,
)

MAX_CONNECTIONS = 4  # origins a viewer keeps a connection to (playlist host, segment CDN, ...)


class HttpClient:
    """The HTTP client of one viewer (see the module doc): its connections' ConnectionOwner."""

    def __init__(
        self,
        connect_timeout: float = 10.0,
        on_request: Callable[[str], None] | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.connect_timeout = connect_timeout
        self.on_request = on_request
        self.ssl_context = ssl_context
        #: connections made (a new one per origin, and after a failure or a close)
        self.connections_made = 0
        self._conns: dict[tuple[str, str, int], Connection] = {}
        self._addrs: dict[tuple[str, int], list[tuple[int, Any]]] = {}
        #: (URL prefix "scheme://netloc/", connection key, Host) of origins seen
        self._origins: list[tuple[str, tuple[str, str, int], str]] = []

    async def resolve(self, host: str, port: int) -> list[tuple[int, Any]]:
        key = (host, port)
        got = self._addrs.get(key)
        if got is None:
            infos = await self.loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            got = self._addrs[key] = [(info[0], info[4]) for info in infos]
        return got

    def forget(self, conn: Connection) -> None:
        if self._conns.get(conn.key) is conn:
            del self._conns[conn.key]

    async def get(
        self, url: str, limit: float, sink: ResponseSink, stall_s: float = 0.0,
        headers: bytes = b"",
    ) -> Response:
        """GET `url` within `limit` s (and no `stall_s` without data, when given), with
        `headers` (whole lines, CRLF-ended) added to the request.

        Follows redirects. Raises GetError; a non-200 status is a Response.
        """
        loop = self.loop
        deadline = loop.time() + limit
        for _ in range(MAX_REDIRECTS + 1):
            key, target, netloc = self._split(url)
            for attempt in (0, 1):
                conn = self._conns.get(key)
                if conn is None or conn.dead:
                    conn = await self._connect(key, netloc, deadline)
                if self.on_request is not None:
                    self.on_request(url)
                fut = conn.request(url, target, sink, deadline, stall_s, limit, headers)
                try:
                    resp = await fut
                except StaleConnection:
                    if attempt:
                        raise GetError(NETWORK, "connection closed before the response") from None
                    continue
                except BaseException:
                    if conn.fut is fut:  # cancelled (the viewer stopped): the answer is abandoned
                        conn.fut = None
                        conn.close()
                    raise
                if resp.location is None:
                    return resp
                target = urljoin(url, resp.location.decode("latin-1", "replace"))
                why = refused(url, target, same_origin=False)
                if why is not None:
                    raise GetError(BAD, f"{why}; not followed")
                url = target
                break
        raise GetError(BAD, f"more than {MAX_REDIRECTS} redirects (last to {url[:200]})")

    def _split(self, url: str) -> tuple[tuple[str, str, int], str, str]:
        """(connection key, request target, Host) of `url`; origins seen are remembered."""
        for prefix, key, netloc in self._origins:
            if url.startswith(prefix) and "#" not in url:
                return key, url[len(prefix) - 1 :], netloc
        parts = urlsplit(url)
        scheme = parts.scheme
        if scheme not in DEFAULT_PORTS or not parts.hostname:
            raise GetError(BAD, f"not an http(s):// URL: {url[:200]}")
        try:
            port = parts.port or DEFAULT_PORTS[scheme]
        except ValueError as e:
            raise GetError(BAD, f"{url[:200]}: {e}") from None
        key = (scheme, parts.hostname, port)
        netloc = parts.netloc.rpartition("@")[2]
        prefix = f"{scheme}://{parts.netloc}/"
        if url.startswith(prefix) and len(self._origins) < MAX_CONNECTIONS:
            self._origins.append((prefix, key, netloc))
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return key, target, netloc

    async def _connect(self, key: tuple[str, str, int], netloc: str, deadline: float) -> Connection:
        scheme, host, port = key
        if len(self._conns) >= MAX_CONNECTIONS:
            next(iter(self._conns.values())).close()
        conn = Connection(self, key, netloc)
        tls = None
        if scheme == "https":
            tls = self.ssl_context or ssl.create_default_context()
        timeout = min(self.connect_timeout, max(0.0, deadline - self.loop.time()))
        try:
            async with asyncio.timeout(timeout):
                await conn.connect(host, port, tls)
        except TimeoutError:
            conn.close()
            raise GetError(TIMEOUT, f"connect not done within {timeout:.3g}s") from None
        except (OSError, ssl.SSLError) as e:
            conn.close()
            raise GetError(CONNECT, f"connect failed: {reason(e)}") from None
        except BaseException:
            conn.close()
            raise
        conn.dead = False
        self._conns[key] = conn
        self.connections_made += 1
        return conn

    def close(self) -> None:
        for conn in list(self._conns.values()):
            conn.close()
        self._conns.clear()


__all__ = [
    "BAD",
    "CONNECT",
    "NETWORK",
    "READ_SIZE",
    "STALL",
    "TIMEOUT",
    "GetError",
    "HttpClient",
    "Response",
    "reason",
]
