"""PlatformClient failure modes against real sockets (no mocks)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from streamperf.platforms.api_calls import ApiCall, ApiError
from streamperf.platforms.seed.client import ApiTimeout, ApiUnreachable, PlatformClient
from tests.support.loopback_servers import loopback_server


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts connections and never answers."""
    held: list[socket.socket] = []
    with loopback_server(lambda conn, stop: held.append(conn)) as port:
        yield port
    for conn in held:
        conn.close()


@pytest.fixture
def http_server() -> Iterator[tuple[int, list[bytes]]]:
    """Answers every request with a fixed 422 whose body echoes a token."""
    body = b'{"error":"bad","echo":"sekrit-token","pad":"' + b"x" * 400 + b'"}'
    reply = (
        b"HTTP/1.1 422 Unprocessable Entity\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body
    )
    seen: list[bytes] = []

    def answer(conn: socket.socket, stop: threading.Event) -> None:
        with conn:
            seen.append(conn.recv(65536))
            conn.sendall(reply)

    with loopback_server(answer) as port:
        yield port, seen


def test_unreachable_names_url_and_reason() -> None:
    calls: list[ApiCall] = []
    port = _closed_port()
    client = PlatformClient(f"http://127.0.0.1:{port}", on_call=calls.append, timeout=2)
    with pytest.raises(ApiUnreachable) as err:
        client.health()
    assert str(err.value) == f"GET http://127.0.0.1:{port}/health: connection refused"
    assert err.value.status is None
    (call,) = calls
    assert call.endpoint == "GET /health" and call.outcome == "error" and call.status is None


def test_timeout_names_url_and_timeout(silent_server: int) -> None:
    calls: list[ApiCall] = []
    client = PlatformClient(f"http://127.0.0.1:{silent_server}", timeout=0.3, on_call=calls.append)
    with pytest.raises(ApiTimeout) as err:
        client.fan_sign_in("a@e.com", "pw")
    msg = str(err.value)
    assert f"POST http://127.0.0.1:{silent_server}/api/v1/fans/sign_in" in msg
    assert "0.3s" in msg and "timeout" in msg
    (call,) = calls
    assert call.outcome == "timeout" and 0.25 < call.latency_s < 2


def test_error_status_is_one_line_without_tokens(http_server: tuple[int, list[bytes]]) -> None:
    port, seen = http_server
    calls: list[ApiCall] = []
    client = PlatformClient(
        f"http://127.0.0.1:{port}", streams_token="sekrit-token", on_call=calls.append
    )
    from streamperf.platforms.seed.client import Fan

    with pytest.raises(ApiError) as err:
        client.join_stream(Fan(1, "f@e.com", "f", "fan-token"), 7)
    msg = str(err.value)
    assert msg.startswith(f"POST http://127.0.0.1:{port}/streams/7/watchers -> 422: ")
    assert "sekrit-token" not in msg and "***" in msg
    assert "\n" not in msg and len(err.value.body) <= 200
    assert b"key: sekrit-token" in seen[0]  # the token did go out, in the header
    (call,) = calls
    assert call.endpoint == "POST /streams/{I}/watchers" and call.status == 422
    assert "sekrit-token" not in call.detail
