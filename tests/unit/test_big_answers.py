"""A platform's answer is read up to 1 MiB, decompressed (issue 24, item 7): a gzip bomb
and a fast endless stream end that one call with a one-line error, not gigabytes.
A real HTTP server on loopback."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from streamperf.platforms.api_calls import ApiCall, ApiError
from streamperf.platforms.seed.client import MAX_ANSWER_BYTES, PlatformClient

BOMB = gzip.compress(b"0" * (64 << 20), 9)  # 64 MiB of zeros in about 64 kB


class _Big(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if "bomb" in self.path:
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(BOMB)))
            self.end_headers()
            self.wfile.write(BOMB)
            return
        self.end_headers()  # no length: a stream until the client gives up
        try:
            for _ in range(4096):
                self.wfile.write(b" " * 65536)  # 256 MiB at most: a bounded loop
        except OSError:
            pass

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Big)
    t = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()
    t.join(5)


@pytest.mark.parametrize("kind", ["bomb", "stream"])
def test_an_answer_over_the_cap_ends_that_call(server: str, kind: str) -> None:
    calls: list[ApiCall] = []
    client = PlatformClient(f"{server}/{kind}", on_call=calls.append, timeout=30)
    with pytest.raises(ApiError) as err:
        client.fan_sign_in("f@e.com", "pw")
    assert f"over {MAX_ANSWER_BYTES >> 20} MiB" in str(err.value)
    assert "\n" not in str(err.value) and calls[-1].outcome == "error"
    client.close()
