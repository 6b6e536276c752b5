"""Redirects do not carry credentials elsewhere (issue 24, item 1): the platform API
client follows a redirect only to the same origin and never down to http; the
viewers' clients follow CDN redirects but not down to http. Two real HTTP servers
on loopback: the platform, and the one it redirects to, which records what it got."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from streamperf.platforms.api_calls import ApiCall, ApiError
from streamperf.platforms.seed.client import PlatformClient
from streamperf.redirects import refused
from streamperf.viewers.http.client import HttpClient
from streamperf.viewers.http.connection import GetError, ResponseSink


class _Server:
    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.srv.got = []  # type: ignore[attr-defined]  # (method, path, headers, body)
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}"
        self.thread = threading.Thread(target=self.srv.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    @property
    def got(self) -> list[tuple[str, str, dict[str, str], str]]:
        return self.srv.got  # type: ignore[attr-defined]

    def stop(self) -> None:
        self.srv.shutdown()
        self.srv.server_close()
        self.thread.join(5)


class _Handler(BaseHTTPRequestHandler):
    """/to/<status>/<url-encoded target> answers that redirect; anything else 200 with
    a fan's JSON, recording what came."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        self.server.got.append((self.command, self.path, dict(self.headers), body))  # type: ignore[attr-defined]
        if self.path.startswith("/to/"):
            _, _, status, target = self.path.split("/", 3)
            self.send_response(int(status))
            self.send_header("Location", target.replace("%3A", ":"))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = json.dumps({"id": 7, "email": "f@e.com", "token": "t"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def servers() -> Iterator[tuple[_Server, _Server]]:
    platform, elsewhere = _Server(_Handler), _Server(_Handler)
    yield platform, elsewhere
    platform.stop()
    elsewhere.stop()


def test_a_redirect_to_another_origin_is_refused_and_gets_nothing(servers) -> None:
    platform, elsewhere = servers
    calls: list[ApiCall] = []
    # the sign-in URL answers 307 to the other server: requests would re-send the body
    client = PlatformClient(f"{platform.url}/to/307/{elsewhere.url}", on_call=calls.append,
                            streams_token="streams-key-5772")
    with pytest.raises(ApiError) as err:
        client.fan_sign_in("f@e.com", "fan-pass-8128")
    assert elsewhere.got == []
    assert err.value.status == 307 and "another origin" in str(err.value)
    assert "\n" not in str(err.value) and calls[-1].status == 307
    client.close()


def test_a_redirect_to_the_same_origin_is_followed_with_its_body(servers) -> None:
    platform, _ = servers
    client = PlatformClient(f"{platform.url}/to/307/{platform.url}/final")
    fan = client.fan_sign_in("f@e.com", "fan-pass-8128")
    assert fan.id == 7
    method, path, _, body = platform.got[-1]
    assert (method, path) == ("POST", "/final/api/v1/fans/sign_in")
    assert "fan-pass-8128" in body  # 307 keeps method and body, to the same server only
    client.close()


@pytest.mark.parametrize(("source", "target", "same", "why"), [
    ("https://a.example/x", "http://a.example/y", False, "down to plain http"),
    ("https://a.example/x", "https://b.example/y", True, "another origin"),
    ("http://a.example/x", "http://a.example:8080/y", True, "another origin"),
    ("http://a.example/x", "ftp://a.example/y", False, "not http(s)"),
    ("http://a.example/x", "http://[::1/y", False, "does not parse"),
])
def test_what_is_refused(source: str, target: str, same: bool, why: str) -> None:
    assert why in (refused(source, target, same) or "")


@pytest.mark.parametrize(("source", "target", "same"), [
    ("https://a.example/x", "https://a.example:443/y", True),
    ("http://a.example/x", "https://a.example/y", False),  # up to https: fine
    ("https://cdn.example/x", "https://edge7.cdn.example/y", False),  # a CDN's edge
])
def test_what_is_followed(source: str, target: str, same: bool) -> None:
    assert refused(source, target, same) is None


class _Count(ResponseSink):
    def __init__(self) -> None:
        self.n = 0

    def data(self, buf: bytearray, start: int, end: int) -> None:
        self.n += end - start


def test_the_viewers_client_follows_a_cdn_redirect_but_not_to_another_scheme(servers) -> None:
    platform, elsewhere = servers

    async def main() -> tuple[int, str]:
        http = HttpClient(5.0)
        try:
            ok = await http.get(f"{platform.url}/to/302/{elsewhere.url}/seg.ts", 5.0, _Count())
            with pytest.raises(GetError) as err:
                await http.get(f"{platform.url}/to/302/ftp%3A//127.0.0.1/x", 5.0, _Count())
            return ok.status, str(err.value)
        finally:
            http.close()

    status, why = asyncio.run(main())
    assert status == 200 and elsewhere.got[-1][1] == "/seg.ts"
    assert "not http(s)" in why
