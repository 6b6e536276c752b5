"""DashViewer against a real HTTP origin on 127.0.0.1 (aiohttp): hostile MPDs end one
viewer with a row saying why; a recorded presentation, made live again by its
availabilityStartTime, plays through its segments, a missing one skipped with a row."""

from __future__ import annotations

import asyncio
import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web

from streamperf.viewers.abr import RENDITION
from streamperf.viewers.base import CLOCK, FIRST_AUDIO, FIRST_VIDEO
from streamperf.viewers.dash.viewer import DashViewer
from tests.support.dash_media import DashRecording, record_dash
from tests.support.loopback_servers import serving
from tests.support.loops import RunLoop
from tests.unit.test_dash_mpd import HOSTILE


def origin(mpd: bytes, files: Path | None = None) -> web.Application:
    async def manifest(request: web.Request) -> web.Response:
        return web.Response(body=mpd, content_type="application/dash+xml")

    app = web.Application()
    app.router.add_get("/live/live.mpd", manifest)
    if files is not None:
        app.router.add_static("/live/", files)
    return app


async def play(app: web.Application, seconds: float, **kw: object) -> tuple[DashViewer, list]:
    rows: list = []
    async with serving(app) as base:
        v = DashViewer(f"{base}/live/live.mpd", lambda *r: rows.append(r), **kw)  # type: ignore[arg-type]
        await v.run(seconds)
    return v, rows


@pytest.mark.parametrize("name", ["huge-r", "zero-d", "zero-duration", "nan", "xml-bomb",
                                  "external-entity", "never-advancing", "garbage"])
def test_a_hostile_mpd_ends_that_viewer_with_a_row_saying_why(name: str,
                                                              run_loop: RunLoop) -> None:
    body, why = HOSTILE[name]
    began = time.monotonic()
    v, rows = run_loop(play(origin(body), 10.0, connect_timeout=1.0))
    errors = [r for r in rows if r[0] == "error"]
    assert len(errors) == 1 and errors[0][1] == "protocol", rows
    assert re.search(why, errors[0][3]) and errors[0][3].startswith(v.url), errors
    assert time.monotonic() - began < 3.0  # retried for connect_timeout, then ended
    assert not v.playing and v.mpd_failures >= 1


@pytest.fixture(scope="module")
def rec(tmp_path_factory: pytest.TempPathFactory) -> DashRecording:
    return record_dash(tmp_path_factory.mktemp("viewer"), timeline=False)


def relive(rec: DashRecording, ago_s: float) -> bytes:
    """The recorded live MPD with availabilityStartTime `ago_s` ago: live again; without
    its suggestedPresentationDelay, so the join is dash.js's 4 segments behind."""
    ast = datetime.fromtimestamp(time.time() - ago_s, UTC).isoformat(timespec="milliseconds")
    body = re.sub(rb'suggestedPresentationDelay="[^"]+"', b"", rec.live_mpd)
    return re.sub(rb'availabilityStartTime="[^"]+"', f'availabilityStartTime="{ast}"'.encode(),
                  body)


def test_a_live_number_template_plays_by_the_clock_and_skips_what_is_missing(
        rec: DashRecording, run_loop: RunLoop) -> None:  # fmt: skip
    # 8 s of media recorded: segments 1..4; joined at 8.5 s, 4 x 2 s behind (no SPD > 0)
    v, rows = run_loop(play(origin(relive(rec, 8.5), rec.dir), 4.5, connect_timeout=2.0))
    kinds = [r[0] for r in rows]
    assert kinds.count(FIRST_VIDEO) == 1 and kinds.count(FIRST_AUDIO) == 1
    clock = [r for r in rows if r[0] == CLOCK]
    assert clock and clock[0][1] == "host" and "no usable UTCTiming" in clock[0][3]
    first_video = next(r for r in rows if r[0] == FIRST_VIDEO)
    assert first_video[2] == pytest.approx(0.0, abs=0.1)  # 8.5 - 8 s of delay: segment 1
    assert v.video.segments_fetched == 4 and v.audio.segments_fetched == 4
    sizes = sum(p.stat().st_size for r in "01" for p in rec.segments(r))
    inits = len(rec.init("0")) + len(rec.init("1"))
    assert v.bytes_received - inits - v.mpd_loads * len(relive(rec, 0)) == sizes
    assert v.media_ts_ms == 8000
    # segment 5 is due at 10 s: asked, late (404) until 2 s past due, then skipped
    errors = [r for r in rows if r[0] == "error"]
    assert v.video.late_retries > 0 and len(errors) == 2, errors
    assert all("HTTP 404, skipped" in e[3] and "-00005.m4s" in e[3] for e in errors)
    assert v.media_wallclock == pytest.approx(time.time() - 8.5 - 4.5 + 8.0, abs=0.3)


def test_a_static_presentation_plays_to_its_end(rec: DashRecording, run_loop: RunLoop) -> None:
    v, rows = run_loop(play(origin(rec.final_mpd, rec.dir), 10.0))
    assert v.ended and not [r for r in rows if r[0] == "error"], rows
    assert v.segments_fetched == 8 and v.media_wallclock is None
    assert v.media_ts_ms == pytest.approx(8000, abs=50)


def test_close_ends_run_at_once(rec: DashRecording, run_loop: RunLoop) -> None:
    async def main() -> float:
        async with serving(origin(relive(rec, 8.5), rec.dir)) as base:
            v = DashViewer(f"{base}/live/live.mpd", lambda *r: None)
            task = asyncio.ensure_future(v.run(30))
            await asyncio.sleep(0.5)
            began = time.monotonic()
            v.close()
            await task
            return time.monotonic() - began

    assert run_loop(main()) < 0.2


# --- a ladder: the choice before each segment, the emergency switch, CMCD ------------

TOP_REP = "9"  # a second video representation, served from representation 0's files


def two_rung(rec: DashRecording, ago_s: float) -> bytes:
    """The live MPD with a 3 Mbps representation above the recorded 950 kbps one."""
    mpd = relive(rec, ago_s).decode()
    rep = re.search(r'<Representation id="0".*?</Representation>', mpd, re.S)
    assert rep is not None
    top = rep.group(0).replace('id="0"', f'id="{TOP_REP}"').replace(
        'bandwidth="950000"', 'bandwidth="3000000"')
    return mpd.replace(rep.group(0), rep.group(0) + top).encode()


def ladder_origin(rec: DashRecording, ago_s: float, seen: list[web.Request]) -> web.Application:
    """The two-rung MPD; the top representation's media trickles (4 kB per 0.2 s: a
    segment would take about 12 s), its init segment and the rest at loopback speed."""
    async def media(request: web.Request) -> web.StreamResponse:
        seen.append(request)
        name = request.match_info["name"]
        slow = name.startswith(f"chunk-{TOP_REP}-")
        path = rec.dir / name.replace(f"-{TOP_REP}-", "-0-").replace(
            f"stream{TOP_REP}.", "stream0.")
        if not path.is_file():
            raise web.HTTPNotFound()
        body = path.read_bytes()
        if not slow:
            return web.Response(body=body)
        resp = web.StreamResponse(headers={"Content-Length": str(len(body))})
        await resp.prepare(request)
        for i in range(0, len(body), 4096):
            await resp.write(body[i:i + 4096])
            await asyncio.sleep(0.2)
        return resp

    async def manifest(request: web.Request) -> web.Response:
        seen.append(request)
        return web.Response(body=two_rung(rec, ago_s), content_type="application/dash+xml")

    app = web.Application()
    app.router.add_get("/live/live.mpd", manifest)
    app.router.add_get("/live/{name}", media)
    return app


def test_a_download_that_would_not_arrive_in_time_is_given_up_for_the_lower_rendition(
        rec: DashRecording, run_loop: RunLoop) -> None:  # fmt: skip
    seen: list[web.Request] = []
    v, rows = run_loop(play(ladder_origin(rec, 8.5, seen), 4.5, connect_timeout=2.0))
    whys = [json.loads(r[3])["why"] for r in rows if r[0] == RENDITION]
    # dash.js's 1000 kbps start, up once the loopback's throughput is in, then the
    # abandon rule: a top segment projected at over 1.8 durations goes to the lower one
    assert whys[:3] == ["start", "up", "emergency"], rows
    # segments 1..4 are had whole (5, due at 10 s, was never recorded: skipped on 404)
    assert v.video.segments_fetched == 4, rows
    asked = [r.path.rsplit("/", 1)[1] for r in seen]
    given_up = next(n for n in asked if n.startswith(f"chunk-{TOP_REP}-"))
    # the same instant, asked again from the lower representation, and had whole
    assert asked[asked.index(given_up) + 1] == given_up.replace(f"-{TOP_REP}-", "-0-")


@pytest.mark.parametrize("mode", ["query", "headers"])
def test_cmcd_keys_go_with_every_dash_request(rec: DashRecording, run_loop: RunLoop,
                                              mode: str) -> None:
    seen: list[web.Request] = []
    run_loop(play(ladder_origin(rec, 8.5, seen), 2.5, connect_timeout=2.0, cmcd=mode,
                  session_id="fan7"))

    def keys(r: web.Request) -> str:
        if mode == "query":
            return r.query.get("CMCD", "")
        return ",".join(r.headers.get(h, "") for h in
                        ("CMCD-Object", "CMCD-Request", "CMCD-Session", "CMCD-Status"))

    by_kind: dict[str, str] = {}
    for r in seen:
        name = r.path.rsplit("/", 1)[1]
        kind = "m" if name.endswith(".mpd") else "i" if name.startswith("init") else \
            "v" if name.startswith(("chunk-0-", f"chunk-{TOP_REP}-")) else "a"
        by_kind.setdefault(kind, keys(r))
        assert 'sid="fan7"' in keys(r) and "sf=d" in keys(r) and "st=l" in keys(r), keys(r)
    assert set(by_kind) == {"m", "i", "v", "a"}, by_kind
    for kind, text in by_kind.items():
        assert f"ot={kind}" in text, (kind, text)
    assert re.search(r"\bbr=950\b", by_kind["v"]) and "d=2000" in by_kind["v"], by_kind["v"]
    assert "bl=" in by_kind["v"] and "su" in by_kind["m"].split(","), by_kind
