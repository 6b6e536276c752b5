"""The perf scenarios through a team's own adapter, defined only in its conftest.py.

The "team" here is a temporary project: a conftest.py with a tiny REST
platform (aiohttp on 127.0.0.1, token auth, a /watch endpoint handing out
the URL of an nginx-rtmp that streamperf's media launcher starts) and an
adapter for it that overrides the `platform` fixture, plus a copy of
tests/perf. It is run with pytest in a subprocess, once in one process and
once with viewers in two worker processes (where the adapter, which they
cannot import, walks the journeys on the controller).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.nested_pytest import ROOT, run_perf, summaries

pytestmark = [pytest.mark.own_pytest, pytest.mark.realtime]

CONFTEST = '''
import asyncio
import secrets
import threading
import time

import pytest
import requests
from aiohttp import web

IMPORTS
from streamperf.media.server import MediaServer


class TinyApi:
    """POST /login {name} -> {token}; POST /streams -> {id, ingest};
    GET /watch/{id}?protocol=P -> {url, protocol}; DELETE /streams/{id}. Bearer tokens."""

    def __init__(self, media):
        self.media = media
        self.tokens = set()
        self.streams = {}
        self.watches = 0
        app = web.Application()
        app.router.add_post("/login", self.login)
        app.router.add_post("/streams", self.create)
        app.router.add_get("/watch/{id}", self.watch)
        app.router.add_delete("/streams/{id}", self.delete)
        self.app = app

    def _auth(self, request):
        if request.headers.get("Authorization", "")[7:] not in self.tokens:
            raise web.HTTPUnauthorized(text="bad token")

    async def login(self, request):
        token = secrets.token_hex(8)
        self.tokens.add(token)
        return web.json_response({"token": token})

    async def create(self, request):
        self._auth(request)
        sid = "show%d" % (len(self.streams) + 1)
        self.streams[sid] = True
        return web.json_response({"id": sid, "ingest": self.media.ingest_url(sid)})

    async def watch(self, request):
        self._auth(request)
        sid = request.match_info["id"]
        if sid not in self.streams:
            raise web.HTTPNotFound(text="no such stream")
        self.watches += 1
        protocol = request.query.get("protocol", "rtmp")
        url = self.media.hls_url(sid) if protocol == "hls" else self.media.rtmp_url(sid)
        return web.json_response({"url": url, "protocol": protocol})

    async def delete(self, request):
        self._auth(request)
        self.streams.pop(request.match_info["id"], None)
        return web.json_response({})

    def start(self):
        ready = threading.Event()

        def serve():
            self.loop = asyncio.new_event_loop()
            runner = web.AppRunner(self.app, access_log=None)
            self.loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, "127.0.0.1", 0)
            self.loop.run_until_complete(site.start())
            self.base_url = "http://127.0.0.1:%d" % runner.addresses[0][1]
            ready.set()
            self.loop.run_forever()
            self.loop.run_until_complete(runner.cleanup())

        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()
        assert ready.wait(10)
        return self

    def stop(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


class TinyPlatform:
    """The adapter: what streamperf needs, in this platform's words."""

    def __init__(self, base_url):
        self.base_url = base_url
        self.http = requests.Session()
        self.live_token = None

    def _call(self, report, method, path, endpoint, token=None, **kw):
        headers = {"Authorization": "Bearer " + token} if token else {}
        start = time.perf_counter()
        resp = self.http.request(method, self.base_url + path, headers=headers,
                                 timeout=5, **kw)
        latency = time.perf_counter() - start
        ok = resp.status_code == 200
        report(ApiCall(endpoint, self.base_url + path, latency, resp.status_code,
                       "ok" if ok else "error", "" if ok else resp.text[:200]))
        resp.raise_for_status()
        return resp.json()

    def go_live(self, report):
        self.live_token = self._call(report, "POST", "/login", "POST /login",
                                     json={"name": "broadcaster"})["token"]
        show = self._call(report, "POST", "/streams", "POST /streams", self.live_token)
        return GoLive(show["ingest"], stream_id=show["id"])

    def on_air(self, live):
        self.live = live

    def prepare_fans(self, fans):
        pass

    def fan_journey(self, fan, live, report):
        token = self._call(report, "POST", "/login", "POST /login",
                           json={"name": fan.username})["token"]
        watch = self._call(report, "GET", "/watch/" + live.stream_id, "GET /watch/{id}",
                           token, params={"protocol": fan.protocol})
        return FanPlay(watch["url"], watch["protocol"])

    def end(self):
        try:
            self._call(lambda call: None, "DELETE", "/streams/" + self.live.stream_id,
                       "DELETE /streams/{id}", self.live_token)
        finally:
            self.http.close()


@pytest.fixture(scope="session")
def platform(tmp_path_factory):
    media = MediaServer(tmp_path_factory.mktemp("media")).start()
    api = TinyApi(media).start()
    try:
        yield TinyPlatform(api.base_url)
    finally:
        api.stop()
        media.stop()
'''


#: How the adapter imports streamperf's types: as docs/platforms.md shows, and as adapters
#: written for the previous release do (those paths forward, with a DeprecationWarning).
IMPORT_PATHS = {
    "new": "from streamperf.platforms import ApiCall, FanPlay, GoLive",
    "old": "from streamperf.load.adapter import FanPlay, GoLive\n"
           "from streamperf.platform.client import ApiCall",
}


def project(tmp_path: Path, paths: str) -> Path:
    (tmp_path / "tests").mkdir()
    shutil.copy(ROOT / "tests" / "perf" / "test_live_stream.py", tmp_path / "tests")
    (tmp_path / "tests" / "conftest.py").write_text(
        CONFTEST.replace("IMPORTS", IMPORT_PATHS[paths]))
    return tmp_path


def run(project: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], list[dict]]:
    reports = project / "reports"
    proc = run_perf(reports, "-q", "--calibration", "0", *args, tests="tests", cwd=project)
    return proc, summaries(reports)


# Both scenarios as a user runs them (--procs 1, the default) with the adapter importing
# what docs/platforms.md shows, and one with the viewers in two worker processes with an
# adapter of the previous release's import paths.
@pytest.mark.parametrize(("procs", "scenarios", "runs", "paths"),
                         [("1", "steady_audience or join_storm", 2, "new"),
                          ("2", "join_storm", 1, "old")],
                         ids=["procs-1-both-scenarios-new-paths", "procs-2-join_storm-old-paths"])
def test_perf_scenarios_pass_through_an_adapter_defined_in_a_conftest(
        tmp_path: Path, procs: str, scenarios: str, runs: int, paths: str) -> None:
    proc, summaries = run(project(tmp_path, paths), "--users", "6", "--duration", "8s",
                          "--procs", procs, "-k", scenarios, "-W", "always::DeprecationWarning")
    out = proc.stdout[-4000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, out
    moved = "streamperf.load.adapter.GoLive moved to streamperf.platforms.GoLive"
    assert (moved in proc.stdout + proc.stderr) == (paths == "old"), out
    assert len(summaries) == runs, out
    for s in summaries:
        m = s["metrics"]
        assert (m["viewers_planned"], m["viewers_with_media"]) == (6, 6), out
        assert m["api_errors"] == 0, out
        assert m["latency_basis"] == "publish clock", out  # streamperf published
    # Each fan: login + watch, reported by the adapter as api rows; the first run also
    # carries going live's two calls (login, create stream).
    assert sorted(s["metrics"]["api_calls"] for s in summaries) == [12, 14][-runs:], out
    if procs == "2":  # the viewers played in the two workers, the journeys walked here
        for events in (tmp_path / "reports").glob("2*/events.csv"):
            rows = [line.split(",") for line in events.read_text().splitlines()[1:]]
            assert {r[1] for r in rows if r[3] == "play"} == {"proc-0", "proc-1"}
