"""The seed's API (DESIGN.md section 8) as an aiohttp.web app over a SQLite Store.

Stream naming: the platform hands out the ingest URL
`.../live/<username>_source?key=<stream key>` (servers_status.ingest_url), like
a Wowza transcoder's source rendition; nginx asks `on_publish` whether the key
is that influencer's, so only the platform's own streams can be published. So
the seed's edge rule — SMIL base `rtmp://HOST:PORT/live/_definst_` with
`_definst_` replaced by `<username>_source` — yields exactly the stream
nginx-rtmp serves, without any aliasing in nginx. The join answer names the
same stream explicitly (rtmpUrl, hlsUrl).

In seed mode (`make_app(..., seed=True)`) the answers are exactly the seed
backend's: the influencer's servers_status has only origin_ip,
servers_launching and servers_ready; the join only originIp and
influencerUsername; the marketplace only ids. The client then uses the
seed's conventions on the origin port, and the edge redirect is the media
server's (media/server.py `wowza_edge`), not this app's.
"""

from __future__ import annotations

import json
import secrets
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from streamperf.hosts.specs import is_loopback
from streamperf.media.ladder_outputs import MASTER, MPD, RUNG_SEP
from streamperf.media.server import APP, MediaServer
from streamperf.platforms.reference.llhls.origin import Origin, playlist_path
from streamperf.platforms.reference.llhls.routes import ORIGIN_KEY, mount
from streamperf.platforms.reference.store import MAX_ID, PER_PAGE, DuplicateError, Store
from streamperf.platforms.seed.conventions import SEED_ORIGIN_PORT

STORE_KEY = web.AppKey("store", Store)
MEDIA_KEY = web.AppKey("media", object)  # MediaServer | None
TOKEN_KEY = web.AppKey("streams_token", str)
DELAY_KEY = web.AppKey("ready_delay_s", float)
SEED_KEY = web.AppKey("seed", bool)  # answer exactly as the seed's backend
LADDER_KEY = web.AppKey("ladder", bool)  # streams are ladders: master playlist and MPD


SOURCE_SUFFIX = "_source"
#: the ingest URL's query parameter that carries the influencer's stream key
PUBLISH_KEY = "key"
#: where nginx-rtmp asks whether a publisher may publish (media/server.py on_publish)
ON_PUBLISH_PATH = "/media/on_publish"
#: the platform's clock for DASH players (a ladder MPD's UTCTiming, http-xsdate)
TIME_PATH = "/time"


def stream_name(username: str) -> str:
    return f"{username}{SOURCE_SUFFIX}"


# --- helpers ---------------------------------------------------------------
def _error(status: int, message: str) -> web.HTTPException:
    cls = {
        401: web.HTTPUnauthorized,
        403: web.HTTPForbidden,
        404: web.HTTPNotFound,
        422: web.HTTPUnprocessableEntity,
    }[status]
    return cls(text=json.dumps({"error": message}), content_type="application/json")


@web.middleware
async def json_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    # Unknown routes and wrong methods answer JSON too, like every other error; a
    # number SQLite cannot hold (2^63 and more) is the client's error, never a 500.
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except web.HTTPException as e:
        if e.content_type == "application/json" or e.status < 400:
            raise
        return web.json_response({"error": e.reason}, status=e.status)
    except OverflowError:
        return web.json_response({"error": "a number is out of range"}, status=422)


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except (ValueError, UnicodeDecodeError) as e:
        raise _error(422, f"body must be JSON: {e}") from e
    if not isinstance(data, dict):
        raise _error(422, "body must be a JSON object")
    return data


def _fields(data: Any, where: str, *names: str) -> dict[str, str]:
    if not isinstance(data, dict):
        raise _error(422, f"missing object {where!r}")
    out: dict[str, str] = {}
    for n in names:
        v = data.get(n)
        if not isinstance(v, str) or not v.strip():
            raise _error(422, f"{where}.{n} must be a non-empty string")
        out[n] = v.strip()
    return out


def _int_id(request: web.Request, name: str) -> int:
    try:
        value = int(request.match_info[name])
    except ValueError as e:
        raise _error(404, f"no such {name}") from e
    if not 0 <= value <= MAX_ID:
        raise _error(404, f"no such {name}")
    return value


def _body_id(value: Any, what: str) -> int:
    """An integer id from a JSON body; 422 for anything else, 2^63 and more included."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_ID:
        raise _error(422, f"{what} must be an integer id")
    return value


def _media(request: web.Request) -> MediaServer | None:
    media = request.app[MEDIA_KEY]
    return media if isinstance(media, MediaServer) else None


def _origin(request: web.Request) -> tuple[str, int]:
    media = _media(request)
    if media is None:  # an app without media (API tests): the seed's origin
        return "127.0.0.1", SEED_ORIGIN_PORT
    return media.host, media.rtmp_port


def _rtmp(request: web.Request, name: str) -> str:
    host, port = _origin(request)
    return f"rtmp://{host}:{port}/{APP}/{name}"


def _influencer_json(request: web.Request, row: dict[str, Any]) -> dict[str, Any]:
    host, _ = _origin(request)
    alerts = row["alerts_at"]
    ready = alerts is not None and time.time() >= alerts + request.app[DELAY_KEY]
    status: dict[str, Any] = {
        "origin_ip": host,
        # launching between stream alerts and ready, as a real fleet would
        "servers_launching": alerts is not None and not ready,
        "servers_ready": ready,
    }
    if not request.app[SEED_KEY]:
        base = str(request.url.origin())
        # The stream key, as a query nginx hands to on_publish; only this influencer has it.
        key = urlencode({PUBLISH_KEY: row["stream_key"]})
        status["ingest_url"] = f"{_rtmp(request, stream_name(row['username']))}?{key}"
        status["edge_redirect_url"] = f"{base}/redirect/live/{row['username']}"
    return {
        "id": row["id"],
        "email": row["email"],
        "username": row["username"],
        "token": row["token"],
        "servers_status": status,
    }


def _influencer_auth(request: web.Request) -> dict[str, Any]:
    token = request.headers.get("x-influencer-token", "")
    if not token:
        raise _error(401, "missing x-influencer-token")
    row = request.app[STORE_KEY].influencer(_int_id(request, "I"))
    if row is None or not secrets.compare_digest(row["token"], token):
        # Same answer for unknown id and wrong token: ids are not probed.
        raise _error(401, "invalid x-influencer-token")
    return row


def _fan_auth(request: web.Request) -> dict[str, Any]:
    token = request.headers.get("x-fan-token", "")
    if not token:
        raise _error(401, "missing x-fan-token")
    row = request.app[STORE_KEY].fan_by_token(token)
    if row is None:
        raise _error(401, "invalid x-fan-token")
    return row


def _streams_auth(request: web.Request) -> None:
    key = request.headers.get("key", "")
    if not key:
        raise _error(401, "missing key header")
    if not secrets.compare_digest(key, request.app[TOKEN_KEY]):
        raise _error(401, "invalid key header")


def _fan_json(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("id", "email", "username", "token")}


OK = {"ok": True}


# --- handlers -----------------------------------------------------------------
async def health(request: web.Request) -> web.Response:
    return web.json_response(OK)


async def influencer_sign_in(request: web.Request) -> web.Response:
    body = await _body(request)
    f = _fields(body.get("influencer"), "influencer", "email", "oauth_token")
    row = request.app[STORE_KEY].influencer_sign_in(f["email"].lower(), f["oauth_token"])
    if row is None:  # the influencer exists and signed up with another oauth token
        raise _error(401, "invalid oauth_token")
    return web.json_response(_influencer_json(request, row))


async def on_publish(request: web.Request) -> web.Response:
    """nginx-rtmp's on_publish (notify_method get): may this connection publish?

    Extended mode: the stream `<username>_source` (or a ladder's lower rung of it,
    `<username>_source__<rung>`) with that influencer's stream key (`?key=...` of
    the ingest URL, which nginx passes on). Seed mode, as the seed's
    backend had no stream keys: the stream `<username>` of an influencer whose
    servers were asked for (stream alerts), published from this machine. Anything
    else is refused (403), and nginx drops the publisher."""
    store = request.app[STORE_KEY]
    name = request.query.get("name", "")
    if request.app[SEED_KEY]:
        # no key in the seed's ingest: the publisher must be on this machine (nginx
        # names its address; the origin port's relay refuses RTMP from elsewhere)
        addr = request.query.get("addr", "")
        here = is_loopback(addr) or addr == request.url.host
        row = store.influencer_by_username(name)
        if here and row is not None and row["alerts_at"] is not None:
            return web.json_response(OK)
    elif (base := name.partition(RUNG_SEP)[0]).endswith(SOURCE_SUFFIX):
        # a ladder's lower rung (`<stream>__480p`) is published with the stream's key
        row = store.influencer_by_username(base[: -len(SOURCE_SUFFIX)])
        key = request.query.get(PUBLISH_KEY, "")
        if row is not None and key and secrets.compare_digest(key, row["stream_key"]):
            if ORIGIN_KEY in request.app:  # the LL-HLS origin pulls what nginx lets in
                request.app[ORIGIN_KEY].published(name)
            return web.json_response(OK)
    raise _error(403, "not a stream of this platform, or a wrong stream key")


async def stream_alerts(request: web.Request) -> web.Response:
    row = _influencer_auth(request)
    request.app[STORE_KEY].set_alerts(row["id"])
    return web.json_response(OK)


async def influencer_status(request: web.Request) -> web.Response:
    row = _influencer_auth(request)
    return web.json_response(_influencer_json(request, row))


async def streaming_start(request: web.Request) -> web.Response:
    row = _influencer_auth(request)
    request.app[STORE_KEY].set_streaming(row["id"], True)
    return web.json_response(OK)


async def streaming_end(request: web.Request) -> web.Response:
    row = _influencer_auth(request)
    request.app[STORE_KEY].set_streaming(row["id"], False)
    return web.json_response(OK)


async def fan_sign_up(request: web.Request) -> web.Response:
    body = await _body(request)
    f = _fields(body.get("fan"), "fan", "email", "username", "password", "password_confirmation")
    if f["password"] != f["password_confirmation"]:
        raise _error(422, "password_confirmation doesn't match password")
    try:
        row = request.app[STORE_KEY].fan_create(f["email"].lower(), f["username"], f["password"])
    except DuplicateError as e:
        raise _error(422, str(e)) from e
    return web.json_response(_fan_json(row))


async def fan_sign_in(request: web.Request) -> web.Response:
    body = await _body(request)
    f = _fields(body.get("fan"), "fan", "email", "password")
    row = request.app[STORE_KEY].fan_authenticate(f["email"].lower(), f["password"])
    if row is None:
        raise _error(401, "invalid email or password")
    return web.json_response(_fan_json(row))


def _with_influencer(request: web.Request, inf_id: int) -> Store:
    """The store, once it knows influencer `inf_id` (else 404)."""
    store = request.app[STORE_KEY]
    if store.influencer(inf_id) is None:
        raise _error(404, f"no influencer {inf_id}")
    return store


async def follow(request: web.Request) -> web.Response:
    fan = _fan_auth(request)
    body = await _body(request)
    inf_id = _body_id(body.get("influencer_id"), "influencer_id")
    store = _with_influencer(request, inf_id)
    store.follow(fan["id"], inf_id)
    return web.json_response({"following": True})


async def unfollow(request: web.Request) -> web.Response:
    fan = _fan_auth(request)
    inf_id = _int_id(request, "I")
    store = _with_influencer(request, inf_id)
    store.unfollow(fan["id"], inf_id)
    return web.json_response({"following": False})


async def use_code(request: web.Request) -> web.Response:
    fan = _fan_auth(request)
    code = request.query.get("code_text", "").strip()
    if not code:
        raise _error(422, "code_text must not be empty")
    request.app[STORE_KEY].use_code(fan["id"], code)
    return web.json_response(OK)


async def marketplace(request: web.Request) -> web.Response:
    _fan_auth(request)
    try:
        page = int(request.query.get("page", "1"))
    except ValueError as e:
        raise _error(422, "page must be an integer") from e
    if not 1 <= page <= MAX_ID // PER_PAGE:
        raise _error(422, f"page must be between 1 and {MAX_ID // PER_PAGE}")
    rows = request.app[STORE_KEY].influencers_page(page, PER_PAGE)
    if request.app[SEED_KEY]:
        return web.json_response({"influencers": [{"id": r["id"]} for r in rows]})
    return web.json_response({"influencers": rows, "page": page, "per_page": PER_PAGE})


async def relation(request: web.Request) -> web.Response:
    fan = _fan_auth(request)
    body = await _body(request)
    ids = body.get("influencers")
    if not isinstance(ids, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) and 0 <= i <= MAX_ID for i in ids
    ):
        raise _error(422, "influencers must be a list of integer ids")
    following = request.app[STORE_KEY].following(fan["id"], ids)
    return web.json_response(
        {"relations": [{"influencer_id": i, "following": i in following} for i in ids]}
    )


async def join_stream(request: web.Request) -> web.Response:
    _streams_auth(request)
    store = request.app[STORE_KEY]
    inf = store.influencer(_int_id(request, "I"))
    if inf is None:
        raise _error(404, f"no influencer {request.match_info['I']}")
    body = await _body(request)
    fan_id = _body_id(body.get("id"), "id")
    if store.fan(fan_id) is None:
        raise _error(404, f"no fan {fan_id}")
    store.add_watcher(inf["id"], fan_id)
    host, _ = _origin(request)
    answer: dict[str, Any] = {"originIp": host, "influencerUsername": inf["username"]}
    if not request.app[SEED_KEY]:
        media = _media(request)
        name = stream_name(inf["username"])
        answer["rtmpUrl"] = _rtmp(request, name)
        if media is not None and request.app[LADDER_KEY]:
            # a ladder: RTMP plays its top rendition, HLS and DASH all of them
            answer["hlsUrl"] = media.ladder_url(name, MASTER)
            answer["dashUrl"] = media.ladder_url(name, MPD)
        else:
            answer["hlsUrl"] = media.hls_url(name) if media is not None else None
        if ORIGIN_KEY in request.app:  # a ladder's: its master playlist
            path = playlist_path(name, master=request.app[LADDER_KEY])
            answer["llhlsUrl"] = f"{request.url.origin()}{path}"
    return web.json_response(answer)


async def leave_stream(request: web.Request) -> web.Response:
    _streams_auth(request)
    store = request.app[STORE_KEY]
    inf_id = _int_id(request, "I")
    if store.influencer(inf_id) is None:
        raise _error(404, f"no influencer {inf_id}")
    store.remove_watcher(inf_id, _int_id(request, "F"))
    return web.json_response(OK)


async def edge_redirect(request: web.Request) -> web.Response:
    # Wowza-style edge answer; the client swaps _definst_ for <username>_source.
    host, port = _origin(request)
    smil = f'<smil><head><meta base="rtmp://{host}:{port}/{APP}/_definst_"/></head><body/></smil>'
    return web.Response(text=smil, content_type="application/smil+xml")


async def utc_time(request: web.Request) -> web.Response:
    """Now, as xs:dateTime in UTC to the millisecond: what dash.js syncs its clock to."""
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    # a browser player on another origin reads it too
    return web.Response(text=now, content_type="text/plain",
                        headers={"Cache-Control": "no-cache",
                                 "Access-Control-Allow-Origin": "*"})


def make_app(
    store: Store,
    media: MediaServer | None,
    streams_token: str,
    ready_delay_s: float = 0.0,
    seed: bool = False,
    ladder: bool = False,
    llhls: Origin | None = None,
) -> web.Application:
    """The platform's aiohttp app over `store`; playback URLs point at `media`.

    `seed`: answer exactly as the seed's backend did (module docstring). `ladder`: its
    streams are ladders (media/ladder_publisher.py): the join also answers `dashUrl`,
    `hlsUrl` is the master playlist, and TIME_PATH tells the time. `llhls`: its LL-HLS
    origin (llhls/), mounted under /llhls; the join also answers `llhlsUrl`."""
    if seed and (ladder or llhls):
        raise ValueError("the seed's answers name no ladder and no LL-HLS")
    if not streams_token:
        raise ValueError("streams_token must not be empty")
    app = web.Application(middlewares=[json_errors])
    app[STORE_KEY] = store
    app[MEDIA_KEY] = media
    app[TOKEN_KEY] = streams_token
    app[DELAY_KEY] = float(ready_delay_s)
    app[SEED_KEY] = seed
    app[LADDER_KEY] = ladder
    r = app.router
    r.add_get("/health", health)
    r.add_post("/api/v1/influencers/instagram_sign_in_or_up", influencer_sign_in)
    r.add_get(ON_PUBLISH_PATH, on_publish)
    r.add_get("/api/v1/influencers/general", marketplace)
    r.add_post("/api/v1/influencers/relation", relation)
    r.add_post(r"/api/v1/influencers/{I:\d+}/stream_alerts", stream_alerts)
    r.add_get(r"/api/v1/influencers/{I:\d+}", influencer_status)
    r.add_post(r"/api/v1/influencers/{I:\d+}/streamings", streaming_start)
    r.add_delete(r"/api/v1/influencers/{I:\d+}/streamings", streaming_end)
    r.add_delete(r"/api/v1/influencers/{I:\d+}/fan_influencer", unfollow)
    r.add_post("/api/v1/fans", fan_sign_up)
    r.add_post("/api/v1/fans/sign_in", fan_sign_in)
    r.add_post("/api/v1/fan_influencers", follow)
    r.add_post("/api/v1/codes/use", use_code)
    r.add_post(r"/streams/{I:\d+}/watchers", join_stream)
    r.add_delete(r"/streams/{I:\d+}/watchers/{F:\d+}", leave_stream)
    if not seed:  # the seed's edge redirect is the origin's (media server), not the API's
        r.add_get("/redirect/live/{username}", edge_redirect)
    if ladder:
        r.add_get(TIME_PATH, utc_time)
    if llhls is not None:
        mount(app, llhls)
    return app


