"""The HTTP viewers' lean HTTP/1.1 client (viewers/http/client.py and connection.py)
against a scripted raw server.

The server is a real asyncio TCP server on 127.0.0.1 that answers each
request path with bytes written here, framing and all: what aiohttp.web
would not send on cue (a keep-alive connection closed while idle, HTTP/1.0
until close, a chunk-size line split across writes, a stall mid-body,
garbage), and the viewer's stall retry built on it.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from streamperf.media.server import free_port
from streamperf.viewers.hls.viewer import HlsViewer
from streamperf.viewers.http import connection
from streamperf.viewers.http.client import HttpClient
from streamperf.viewers.http.connection import GetError, ResponseSink
from streamperf.viewers.http.watch import WATCH_TICK_S, watches
from tests.support.loops import run

DATA = Path(__file__).resolve().parents[1] / "data"
TS_HEAD = (DATA / "nginx_first_segment_head.ts").read_bytes()  # video + audio PES

Writer = asyncio.StreamWriter
Script = Callable[[Writer, int], Awaitable[bool]]  # (writer, n-th request of the path) -> keep open


def ok(body: bytes, extra: str = "") -> bytes:
    return (f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{extra}\r\n").encode() + body


class RawServer:
    """Answers GET <path> with scripts[path](writer, count); counts connections and requests."""

    def __init__(self, scripts: dict[str, Script], tls: ssl.SSLContext | None = None) -> None:
        self.scripts = scripts
        self.tls = tls
        self.connections = 0
        self.requests: list[str] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    def url(self, path: str) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    async def _serve(self, reader: asyncio.StreamReader, writer: Writer) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1].decode().split("?")[0]
                self.requests.append(path)
                count = self.requests.count(path)
                if not await self.scripts[path](writer, count):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def send(data: bytes, keep: bool = True) -> Script:
    async def script(writer: Writer, count: int) -> bool:
        writer.write(data)
        await writer.drain()
        return keep

    return script


class Collect(ResponseSink):
    """Keeps what it scans (the first `scan` bytes), counts the rest."""

    def __init__(self, scan: int = 1 << 30) -> None:
        self.scan = scan
        self.status = 0
        self.length: int | None = None
        self.body = bytearray()
        self.skipped_bytes = 0
        self.read_size = 1024 if scan < 1 << 30 else connection.READ_SIZE

    def head(self, status: int, length: int | None) -> None:
        self.status, self.length = status, length

    def data(self, buf: bytearray, start: int, end: int) -> None:
        self.body += buf[start:end]
        if len(self.body) >= self.scan:
            self.scanning = False

    def skipped(self, n: int) -> None:
        self.skipped_bytes += n


def test_keep_alive_and_the_unscanned_rest_of_a_body_is_only_counted() -> None:
    big = bytes(range(256)) * 4000  # 1 MB: scanned head, then MSG_TRUNC reads

    async def main() -> None:
        async with RawServer({"/a": send(ok(b"hello")), "/big": send(ok(big))}) as srv:
            http = HttpClient()
            sink = Collect()
            resp = await http.get(srv.url("/a"), 5.0, sink)
            assert (resp.status, resp.length, bytes(sink.body)) == (200, 5, b"hello")
            part = Collect(scan=2000)
            resp = await http.get(srv.url("/big"), 5.0, part, stall_s=2.0)
            assert resp.status == 200 and part.length == len(big)
            assert bytes(part.body) == big[: len(part.body)] and len(part.body) >= 2000
            assert len(part.body) + part.skipped_bytes == len(big)
            resp = await http.get(srv.url("/a"), 5.0, Collect())
            assert srv.connections == 1 and http.connections_made == 1  # all on one connection
            http.close()

    run(main())


def test_chunked_body_split_anywhere() -> None:
    async def chunked(writer: Writer, count: int) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r")
        await writer.drain()
        await asyncio.sleep(0.02)
        for piece in (b"\nhel", b"lo\r\n", b"3;ext=1\r\n wo\r", b"\n0\r\n\r\n"):
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(0.01)
        return True

    async def main() -> None:
        async with RawServer({"/c": chunked}) as srv:
            http = HttpClient()
            for _ in range(2):
                sink = Collect()
                resp = await http.get(srv.url("/c"), 5.0, sink)
                assert (resp.status, resp.length, bytes(sink.body)) == (200, None, b"hello wo")
            assert srv.connections == 1
            http.close()

    run(main())


def test_connection_close_http10_and_an_idle_close_open_a_new_connection() -> None:
    scripts = {
        "/close": send(ok(b"x", "Connection: close\r\n"), keep=False),
        "/old": send(b"HTTP/1.0 200 OK\r\n\r\nuntil close", keep=False),
        # keep-alive promised, then closed while idle: the next request is retried
        "/idle": send(ok(b"y"), keep=False),
    }

    async def main() -> None:
        async with RawServer(scripts) as srv:
            http = HttpClient()
            for path, body in (("/close", b"x"), ("/old", b"until close"), ("/idle", b"y"),
                               ("/idle", b"y"), ("/idle", b"y")):  # fmt: skip
                sink = Collect()
                resp = await http.get(srv.url(path), 5.0, sink)
                assert resp.status == 200 and bytes(sink.body) == body, path
                await asyncio.sleep(0.05)
            assert srv.connections == 5
            http.close()

    run(main())


def test_redirects_are_followed_up_to_five() -> None:
    async def main() -> None:
        loop_script = send(b"HTTP/1.1 302 Found\r\nLocation: /loop\r\nContent-Length: 3\r\n\r\nabc")
        scripts = {
            "/from": send(b"HTTP/1.1 301 Moved\r\nLocation: to?x=1\r\nContent-Length: 0\r\n\r\n"),
            "/to": send(ok(b"there")),
            "/loop": loop_script,
        }
        async with RawServer(scripts) as srv:
            http = HttpClient()
            sink = Collect()
            resp = await http.get(srv.url("/from"), 5.0, sink)
            assert resp.url == srv.url("/to?x=1") and bytes(sink.body) == b"there"
            with pytest.raises(GetError, match="more than 5 redirects") as e:
                await http.get(srv.url("/loop"), 5.0, Collect())
            assert e.value.kind == connection.BAD
            http.close()

    run(main())


def test_stall_timeout_garbage_and_refused() -> None:
    async def stall(writer: Writer, count: int) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n12345")
        await writer.drain()
        await asyncio.sleep(5)
        return False

    async def drip(writer: Writer, count: int) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
        for _ in range(100):
            writer.write(b"x")
            await writer.drain()
            await asyncio.sleep(0.1)
        return True

    scripts = {
        "/stall": stall,
        "/drip": drip,
        "/garbage": send(b"SSH-2.0-OpenSSH_9.6\r\n\r\n"),
        "/hugehead": send(b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 20000 + b"\r\n"),
        "/badlength": send(b"HTTP/1.1 200 OK\r\nContent-Length: 1e3\r\n\r\n"),
    }

    async def main() -> None:
        async with RawServer(scripts) as srv:
            http = HttpClient()
            t0 = time.monotonic()
            with pytest.raises(GetError) as e:
                await http.get(srv.url("/stall"), 5.0, Collect(), stall_s=0.3)
            assert e.value.kind == connection.STALL and 0.29 < time.monotonic() - t0 < 1.0
            t0 = time.monotonic()
            with pytest.raises(GetError) as e:  # data keeps coming: no stall, but the deadline
                await http.get(srv.url("/drip"), 0.6, Collect(), stall_s=0.3)
            assert e.value.kind == connection.TIMEOUT and "not complete within" in e.value.why
            assert 0.59 < time.monotonic() - t0 < 1.2
            for path, why in (("/garbage", "not an HTTP/1.x status line"),
                              ("/hugehead", "response head over"),
                              ("/badlength", "Content-Length")):  # fmt: skip
                with pytest.raises(GetError, match=why) as e:
                    await http.get(srv.url(path), 5.0, Collect())
                assert e.value.kind == connection.BAD
            http.close()
        with pytest.raises(GetError, match="refused") as e:
            await http.get(f"http://127.0.0.1:{free_port()}/x", 5.0, Collect())
        assert e.value.kind == connection.CONNECT

    run(main())


def test_one_watch_per_loop_times_requests_and_is_idle_between_them() -> None:
    # No timer per request: the loop's watch holds the requests in flight, sees a
    # stall at most one tick late, and disarms once none is left.
    async def silent(writer: Writer, count: int) -> bool:
        await asyncio.sleep(5)
        return False

    async def main() -> None:
        loop = asyncio.get_running_loop()
        watch = watches.get(loop)
        async with RawServer({"/a": send(ok(b"a")), "/silent": silent}) as srv:
            http = HttpClient()
            for _ in range(20):
                await http.get(srv.url("/a"), 5.0, Collect())
            assert not watch.conns  # finished requests leave the watch
            t0 = loop.time()
            with pytest.raises(GetError) as e:
                await http.get(srv.url("/silent"), 5.0, Collect(), stall_s=0.2)
            took = loop.time() - t0
            assert e.value.kind == connection.STALL
            assert 0.2 - 0.002 <= took <= 0.2 + WATCH_TICK_S + 0.1, took
            assert not watch.conns
            await asyncio.sleep(WATCH_TICK_S * 2.5)
            assert not watch.armed  # nothing in flight: no timer left running
            http.close()
        assert watches.get(loop) is watch

    run(main())


def test_a_cancelled_request_closes_its_connection() -> None:
    async def never(writer: Writer, count: int) -> bool:
        await asyncio.sleep(10)
        return False

    async def main() -> None:
        async with RawServer({"/never": never, "/a": send(ok(b"a"))}) as srv:
            http = HttpClient()
            task = asyncio.ensure_future(http.get(srv.url("/never"), 5.0, Collect()))
            await asyncio.sleep(0.1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            sink = Collect()
            await http.get(srv.url("/a"), 5.0, sink)  # a fresh connection, not the busy one
            assert bytes(sink.body) == b"a" and srv.connections == 2
            http.close()

    run(main())


def self_signed(tmp: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server, client) TLS contexts for a certificate of 127.0.0.1 made here."""
    from cryptography import x509  # paramiko's dependency
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    (tmp / "c.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp / "k.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))  # fmt: skip
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(tmp / "c.pem", tmp / "k.pem")
    client = ssl.create_default_context(cafile=str(tmp / "c.pem"))
    return server, client


def test_https_keep_alive_and_counting(tmp_path: Path) -> None:
    server_tls, client_tls = self_signed(tmp_path)
    big = b"z" * 300_000

    async def main() -> None:
        scripts = {"/big": send(ok(big)), "/a": send(ok(b"hello"))}
        async with RawServer(scripts, tls=server_tls) as srv:
            http = HttpClient(ssl_context=client_tls)
            part = Collect(scan=1000)
            resp = await http.get(srv.url("/big"), 5.0, part, stall_s=2.0)
            assert resp.status == 200 and len(part.body) + part.skipped_bytes == len(big)
            sink = Collect()
            await http.get(srv.url("/a"), 5.0, sink)
            assert bytes(sink.body) == b"hello" and srv.connections == 1
            http.close()
            with pytest.raises(GetError) as e:  # a certificate nobody vouches for
                await HttpClient().get(srv.url("/a"), 5.0, Collect())
            assert e.value.kind == connection.CONNECT and "CERTIFICATE_VERIFY_FAILED" in e.value.why

    run(main())


# --- the viewer's stall retry ---------------------------------------------------------------


def live_playlist(n: int) -> bytes:
    lines = ["#EXTM3U", "#EXT-X-TARGETDURATION:1", "#EXT-X-MEDIA-SEQUENCE:0"]
    for i in range(n):
        lines += ["#EXTINF:1.000,", f"s{i}.ts"]
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize("stalls", [1, 2])
def test_a_stalled_segment_is_asked_again_once_on_a_fresh_connection(stalls: int) -> None:
    events: list[tuple[str, str, float, str]] = []

    async def segment(writer: Writer, count: int) -> bool:
        if count <= stalls:  # head and a little, then nothing: the download stalls
            writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {len(TS_HEAD)}\r\n\r\n".encode())
            writer.write(TS_HEAD[:1000])
            await writer.drain()
            await asyncio.sleep(3)
            return False
        writer.write(ok(TS_HEAD))
        await writer.drain()
        return True

    async def main() -> HlsViewer:
        scripts: dict[str, Script] = {"/live.m3u8": send(ok(live_playlist(1))), "/s0.ts": segment}
        async with RawServer(scripts) as srv:
            v = HlsViewer(srv.url("/live.m3u8"), lambda *e: events.append(e))
            await v.run(2.5)
            assert srv.requests.count("/s0.ts") == 2
            assert srv.connections >= 2  # the retry does not queue behind the stalled connection
        return v

    v = run(main())
    assert v.segment_retries == 1
    errors = [(e[1], e[3]) for e in events if e[0] == "error"]
    if stalls == 1:
        assert errors == [] and v.segments_fetched == 1 and v.media_ts_ms > 0
    else:
        [(name, detail)] = errors
        assert name == "timeout" and "no data for 1s, skipped" in detail, detail
        assert v.segments_fetched == 0 and v.segments_skipped == 1
