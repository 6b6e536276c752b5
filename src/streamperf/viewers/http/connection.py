"""One keep-alive HTTP/1.1 connection of an HTTP viewer and the request in flight on it.

The request state machine of viewers/http/client.py's HttpClient (see its module doc
for why and how): the response head parsed for what is used, the body handed to the
request's `ResponseSink` by offset into one read buffer per event loop (or counted and
discarded unread with MSG_TRUNC); the loop's watch (watch.py) checks it for its
deadline and no-data stall. What a connection needs of the client that made it is
`ConnectionOwner`, declared here: this module does not import the client.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from streamperf import __version__
from streamperf.redirects import REDIRECT_STATUS
from streamperf.viewers.http.body import MAX_HEAD, ChunkedBody, HttpProtocolError
from streamperf.viewers.http.watch import watches
from streamperf.viewers.per_loop import PerLoop

READ_SIZE = 256 * 1024  # one recv into the loop's buffer
DISCARD_MAX = 1 << 20  # one MSG_TRUNC recv (nothing is written to the buffer)
MSG_TRUNC: int = getattr(socket, "MSG_TRUNC", 0)

# failure kinds of one request
CONNECT, NETWORK, TIMEOUT, STALL, BAD = "connect", "network", "timeout", "stall", "bad"
ABANDON = "abandon"  # the sink gave the request up (an ABR emergency switch)


def _read_buffer(loop: asyncio.AbstractEventLoop) -> tuple[bytearray, memoryview]:
    buf = bytearray(DISCARD_MAX)  # pages past READ_SIZE are never written (MSG_TRUNC)
    return buf, memoryview(buf)[:READ_SIZE]


_buffers = PerLoop(_read_buffer)  # one read buffer per event loop


class GetError(Exception):
    """One request failed: `kind` (CONNECT, NETWORK, TIMEOUT, STALL, BAD) and why."""

    def __init__(self, kind: str, why: str) -> None:
        super().__init__(why)
        self.kind = kind
        self.why = why


class StaleConnection(Exception):
    """A reused keep-alive connection was closed before any byte of the answer."""


class ConnectionOwner(Protocol):
    """What a Connection uses of the client that made it (HttpClient is one)."""

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the owner and its connections run on."""
        ...

    async def resolve(self, host: str, port: int) -> list[tuple[int, Any]]:
        """(family, address) pairs to try for host:port, in order (plain http only)."""
        ...

    def forget(self, conn: Connection) -> None:
        """`conn` closed: the owner must not hand it out again."""
        ...


class ResponseSink:
    """What one request does with its response's head and body (the viewer subclasses it)."""

    #: True while `data` wants the body's bytes; False: they are only counted (`skipped`)
    scanning = True
    #: bytes asked of one recv while the head or a scanned body is read (plain http): a
    #: segment asks little, so that what it does not scan is discarded unread after
    read_size = READ_SIZE
    #: True: the request watch calls `check` at each tick while the request is in flight
    checks = False

    def check(self, now: float) -> str | None:
        """A reason to give the request up now (it fails with ABANDON), or None."""
        return None

    def head(self, status: int, length: int | None) -> None:
        """The response head arrived (not for redirects); raise GetError to give up."""

    def data(self, buf: bytearray, start: int, end: int) -> None:
        """Body bytes buf[start:end] (while `scanning`); raise GetError to give up."""

    def skipped(self, n: int) -> None:
        """`n` more body bytes arrived (after scanning)."""


class _Discard(ResponseSink):
    scanning = False


_DISCARD = _Discard()


@dataclass
class Response:
    status: int
    #: the URL answered, after redirects
    url: str
    length: int | None
    #: the Location of a redirect answer (then the body was not given to the sink)
    location: bytes | None = None


def reason(e: BaseException) -> str:
    """One line for an OSError (its strerror) or any exception."""
    errno = getattr(e, "errno", None)
    if isinstance(errno, int) and errno and not isinstance(e, ssl.SSLError):
        return os.strerror(errno)
    return str(e) or type(e).__name__


_TE, _LENGTH, _CONNECTION, _LOCATION = (
    b"\r\ntransfer-encoding:", b"\r\ncontent-length:", b"\r\nconnection:", b"\r\nlocation:"
)


def _header(lower: bytes, head: bytes, name: bytes) -> bytes | None:
    """The value of header `name` (b"\\r\\nname:"): from `head`, found in its lower-case copy."""
    i = lower.find(name)
    if i < 0:
        return None
    i += len(name)
    j = head.find(b"\r\n", i)
    return head[i : j if j >= 0 else len(head)].strip()


class Connection:
    """One keep-alive connection and the request in flight on it."""

    def __init__(self, client: ConnectionOwner, key: tuple[str, str, int], netloc: str) -> None:
        self.client = client
        self.key = key
        #: what follows the request target in every request on this connection
        self.req_tail = (
            f" HTTP/1.1\r\nHost: {netloc}\r\nUser-Agent: streamperf/{__version__}\r\n"
            "Accept: */*\r\n\r\n"
        ).encode("latin-1", "replace")
        self.loop = client.loop
        self.buf, self.view = _buffers.get(self.loop)
        self.watch = watches.get(self.loop)
        self.sock: socket.socket | None = None
        self.transport: asyncio.Transport | None = None
        self.dead = False
        self.used = 0  # requests completed on it
        self.fut: asyncio.Future[Response] | None = None
        self.sink: ResponseSink = _DISCARD
        self.url = ""
        self.deadline = 0.0
        self.stall_s = 0.0
        self.limit = 0.0
        self.last_data = 0.0
        self.got_any = False
        self.headbuf = bytearray()
        self.in_head = True
        self.status = 0
        self.length: int | None = None
        self.remaining = -1  # Content-Length bytes still to come; -1: not length-framed
        self.chunked: ChunkedBody | None = None
        self.keep_alive = True
        self.location: bytes | None = None

    # --- connect ------------------------------------------------------------
    async def connect(self, host: str, port: int, tls: ssl.SSLContext | None) -> None:
        loop = self.loop
        if tls is not None:
            await loop.create_connection(
                lambda: TlsProtocol(self), host, port, ssl=tls, server_hostname=host
            )
            return
        infos = await self.client.resolve(host, port)
        last: OSError | None = None
        for family, addr in infos:
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setblocking(False)
            try:
                await loop.sock_connect(sock, addr)
            except OSError as e:
                sock.close()
                last = e
                continue
            except BaseException:
                sock.close()
                raise
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sock = sock
            loop.add_reader(sock.fileno(), self._readable)
            return
        raise last or OSError(f"no address for {host}")

    # --- one request --------------------------------------------------------
    def request(self, url: str, target: str, sink: ResponseSink, deadline: float,
                stall_s: float, limit: float,
                headers: bytes = b"") -> asyncio.Future[Response]:  # fmt: skip
        loop = self.loop
        self.fut = fut = loop.create_future()
        self.url = url
        self.sink = sink
        self.deadline = deadline
        self.stall_s = stall_s
        self.limit = limit
        self.last_data = loop.time()
        self.got_any = False
        self.in_head = True
        self.headbuf.clear()
        self.chunked = None
        self.remaining = -1
        self.location = None
        self.watch.add(self)
        req = b"GET " + target.encode("latin-1", "replace") + self.req_tail
        if headers:  # extra header lines (CMCD), before the blank line
            req = req[:-2] + headers + b"\r\n"
        if self.transport is not None:
            self.transport.write(req)
        else:
            sock = self.sock
            assert sock is not None
            try:
                sent = sock.send(req)
            except BlockingIOError:
                sent = 0
            except OSError as e:
                self._lost(e)
                return fut
            if sent < len(req):  # never seen for a request this small on an idle socket
                task = loop.create_task(loop.sock_sendall(sock, req[sent:]))
                task.add_done_callback(self._sent)
        return fut

    def _sent(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self._lost(task.exception())  # type: ignore[arg-type]

    # --- reading ------------------------------------------------------------
    def _readable(self) -> None:
        sock = self.sock
        if sock is None:
            return
        try:
            if self.remaining > 0 and not self.in_head and not self.sink.scanning and MSG_TRUNC:
                # the hot path: count the rest of a segment, never copy it
                n = sock.recv_into(self.buf, min(self.remaining, DISCARD_MAX), MSG_TRUNC)
                if n:
                    self.last_data = self.loop.time()
                    self.remaining -= n
                    self.sink.skipped(n)
                    if not self.remaining:
                        self._finish()
                    return
            else:
                n = sock.recv_into(self.buf, self.sink.read_size)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self._lost(e)
            return
        self.received(n)

    def received(self, n: int) -> None:
        """`n` bytes are in the buffer (0: the server closed the connection)."""
        if self.fut is None:  # between requests: a close, or bytes nobody asked for
            self.close()
            return
        if not n:
            self._eof()
            return
        self.got_any = True
        self.last_data = self.loop.time()
        try:
            start = 0
            if self.in_head:
                start = self._take_head(n)
                if start < 0:
                    return
            if start < n:
                self._body(start, n)
            if self._body_done():
                self._finish()
        except GetError as e:
            self._fail(e.kind, e.why)
        except HttpProtocolError as e:
            self._fail(BAD, str(e))
        except Exception as e:  # whatever the server sent ends this request, not the loop
            self._fail(BAD, f"{type(e).__name__}: {e}")

    def _take_head(self, n: int) -> int:
        """Offset of the body in the buffer once the head is complete, else -1."""
        buf = self.buf
        hb = self.headbuf
        if not hb:
            i = buf.find(b"\r\n\r\n", 0, min(n, MAX_HEAD))
            if i >= 0:
                self._head(bytes(buf[:i]))
                return i + 4
            hb += buf[:n]
        else:
            old = len(hb)
            hb += buf[:n]
            i = hb.find(b"\r\n\r\n", max(0, old - 3), MAX_HEAD)
            if i >= 0:
                head = bytes(hb[:i])
                hb.clear()
                self._head(head)
                return i + 4 - old
        if len(hb) >= MAX_HEAD:
            raise GetError(BAD, f"response head over {MAX_HEAD} bytes")
        return -1

    def _head(self, head: bytes) -> None:
        self.in_head = False
        eol = head.find(b"\r\n")
        line = head[: eol if eol >= 0 else len(head)]
        parts = line.split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise GetError(BAD, f"not an HTTP/1.x status line: {line[:100]!r}")
        status = int(parts[1])
        lower = head.lower()
        te = _header(lower, lower, _TE)
        raw_len = _header(lower, head, _LENGTH)
        conn = _header(lower, lower, _CONNECTION)
        if parts[0] == b"HTTP/1.0":
            self.keep_alive = conn is not None and b"keep-alive" in conn
        elif conn is not None and b"close" in conn:
            self.keep_alive = False
        length: int | None = None
        if te is not None and b"chunked" in te:
            self.chunked = ChunkedBody(self._chunk_data)
        elif status < 200 or status in (204, 304):
            length = 0
            self.remaining = 0
        elif raw_len is not None:
            if not raw_len.isdigit():
                raise GetError(BAD, f"Content-Length {raw_len[:40]!r}")
            length = self.remaining = int(raw_len)
        else:
            self.keep_alive = False  # the body runs until the connection closes
        self.status = status
        self.length = length
        if status in REDIRECT_STATUS:
            loc = _header(lower, head, _LOCATION)
            if loc:
                self.location = loc
                self.sink = _DISCARD
                return
        self.sink.head(status, length)

    def _body(self, start: int, end: int) -> None:
        if self.chunked is not None:
            self.chunked.feed(self.buf, start, end)
            return
        rem = self.remaining
        if rem >= 0:
            if end - start > rem:
                end = start + rem
                self.keep_alive = False  # bytes past the body: out of step, do not reuse
            self.remaining = rem - (end - start)
        self._chunk_data(self.buf, start, end)

    def _chunk_data(self, buf: bytearray, start: int, end: int) -> Sequence[Any]:
        sink = self.sink
        if sink.scanning:
            sink.data(buf, start, end)
        else:
            sink.skipped(end - start)
        return ()

    def _body_done(self) -> bool:
        if self.in_head:
            return False
        if self.chunked is not None:
            return self.chunked.done
        return self.remaining == 0

    def _eof(self) -> None:
        if not self.in_head and self.chunked is None and self.remaining < 0:
            self.keep_alive = False
            self._finish()  # a body that runs until close is complete
        elif not self.got_any and self.used:
            self._stale()
        elif self.in_head:
            self._fail(NETWORK, "connection closed before the response head")
        else:
            self._fail(NETWORK, "connection closed mid-body")

    def _lost(self, e: BaseException | None) -> None:
        if self.fut is None:
            self.close()
        elif not self.got_any and self.used:
            self._stale()
        else:
            self._fail(NETWORK, reason(e) if e is not None else "connection lost")

    def check_time(self, now: float) -> None:
        """Fail the request in flight past its deadline or without data for stall_s."""
        if self.fut is None:
            self.watch.conns.discard(self)
        elif now >= self.deadline - 0.001:
            what = "no answer" if self.in_head else "not complete"
            self._fail(TIMEOUT, f"{what} within {self.limit:.3g}s")
        elif self.stall_s and now - self.last_data >= self.stall_s - 0.001:
            self._fail(STALL, f"no data for {self.stall_s:.3g}s")
        elif self.sink.checks and (why := self.sink.check(now)) is not None:
            self._fail(ABANDON, why)

    # --- ending -------------------------------------------------------------
    def _finish(self) -> None:
        fut = self.fut
        self.fut = None
        self.used += 1
        self.watch.conns.discard(self)
        self.sink = _DISCARD
        if not self.keep_alive:
            self.close()
        if fut is not None and not fut.done():
            fut.set_result(Response(self.status, self.url, self.length, self.location))

    def _stale(self) -> None:
        fut = self.fut
        self.fut = None
        self.close()
        if fut is not None and not fut.done():
            fut.set_exception(StaleConnection())

    def _fail(self, kind: str, why: str) -> None:
        fut = self.fut
        self.fut = None
        self.close()
        if fut is not None and not fut.done():
            fut.set_exception(GetError(kind, why))

    def close(self) -> None:
        self.dead = True
        self.watch.conns.discard(self)
        sock = self.sock
        if sock is not None:
            self.sock = None
            self.loop.remove_reader(sock.fileno())
            sock.close()
        transport = self.transport
        if transport is not None:
            self.transport = None
            transport.abort()
        self.client.forget(self)


class TlsProtocol(asyncio.BufferedProtocol):
    """https: asyncio's TLS transport reads into the loop's buffer; Connection parses."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.conn.transport = transport

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.conn.view

    def buffer_updated(self, nbytes: int) -> None:
        self.conn.received(nbytes)

    def eof_received(self) -> bool | None:
        self.conn.received(0)
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        conn = self.conn
        if conn.transport is not None:
            conn.transport = None
            conn._lost(exc)
