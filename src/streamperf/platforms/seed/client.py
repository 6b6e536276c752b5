"""Seed-compatible REST client for the platform API (DESIGN.md section 8).

One requests.Session (connection pool sized for the caller's threads). Every
call is reported to `on_call` as an ApiCall, ok or not, before the client
raises, so the event log sees each request with its latency and status.
Tokens travel in headers only; header values never reach messages or
details, and known tokens are masked in echoed response bodies.

A platform that answers with an origin address only (the seed's backend)
gets the seed's conventions on `origin_port` (--origin-port, 2000 as the
seed): ingest `rtmp://ORIGIN:PORT/live/USER`, edge resolution
`http://ORIGIN:PORT/redirect/live/USER` (seed_conventions.py). Explicit URLs in an answer
(servers_status.ingest_url / edge_redirect_url, the join's rtmpUrl / hlsUrl / dashUrl /
llhlsUrl) are preferred when present.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import requests
import urllib3
from requests.adapters import HTTPAdapter

from streamperf.platforms.api_calls import (
    BODY_LIMIT,
    ApiCall,
    ApiError,
    ApiTimeout,
    ApiUnreachable,
)
from streamperf.platforms.seed.conventions import (
    SEED_ORIGIN_PORT,
    edge_url_from_smil,
    seed_ingest_url,
    seed_redirect_url,
)
from streamperf.redact import MASK, is_secret_name, redact, remember
from streamperf.redirects import MAX_REDIRECTS, REDIRECT_STATUS, refused

READ_CHUNK = 65536
#: an API answer over this (after decompression) is not read on: a gzip bomb or an
#: endless stream would pull gigabytes per request across hundreds of journeys
MAX_ANSWER_BYTES = 1 << 20


class AnswerTooLarge(requests.RequestException):
    """An answer past MAX_ANSWER_BYTES."""


def secret_fields(value: Any) -> list[str]:
    """String values under secret-named keys (password, oauth_token, token...) of a
    JSON-like value, at any depth: what an echo of it must not show."""
    found: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, str | int) and not isinstance(v, bool) and is_secret_name(str(k)):
                found.append(str(v))
            else:
                found += secret_fields(v)
    elif isinstance(value, list):
        for v in value:
            found += secret_fields(v)
    return [v for v in found if v]


def mask_values(text: str, values: list[str]) -> str:
    """`text` with each of `values` (longest first) and every known secret masked."""
    for v in sorted(set(values), key=len, reverse=True):
        text = text.replace(v, MASK)
    return redact(text)


@dataclass
class Influencer:
    id: int
    email: str
    username: str
    token: str = field(repr=False)
    #: its ingest URL holds the stream key: not in the repr, which pytest prints
    servers_status: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class Fan:
    id: int
    email: str
    username: str
    token: str = field(repr=False)


@dataclass
class Playback:
    origin_ip: str
    influencer_username: str
    rtmp_url: str | None = None
    hls_url: str | None = None
    flv_url: str | None = None  # HTTP-FLV
    dash_url: str | None = None  # an MPD (the bundled platform's ladder)
    llhls_url: str | None = None  # an LL-HLS media playlist (the bundled platform's origin)


def _reason(exc: BaseException) -> str:
    # requests nests the socket error several levels deep; name it plainly.
    text = str(exc)
    for needle, reason in (
        ("Connection refused", "connection refused"),
        ("Name or service not known", "host not found"),
        ("Failed to resolve", "host not found"),
        ("nodename nor servname", "host not found"),
        ("Connection reset", "connection reset by server"),
        ("RemoteDisconnected", "server closed the connection without answering"),
        ("Connection aborted", "connection aborted"),
        ("No route to host", "no route to host"),
        ("Network is unreachable", "network unreachable"),
    ):
        if needle in text:
            return reason
    return f"{type(exc).__name__}: {text}"[:BODY_LIMIT]


class PlatformClient:
    def __init__(
        self,
        api_url: str,
        streams_api_url: str | None = None,
        streams_token: str = "",
        timeout: float = 10.0,
        on_call: Callable[[ApiCall], None] | None = None,
        pool_size: int = 64,
        origin_port: int = SEED_ORIGIN_PORT,
    ) -> None:
        self.origin_port = origin_port
        self.api_url = api_url.rstrip("/")
        self.streams_api_url = (streams_api_url or api_url).rstrip("/")
        self.streams_token = streams_token
        self.timeout = timeout
        self.on_call = on_call
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def __repr__(self) -> str:  # no token
        return f"PlatformClient({self.api_url!r}, streams_api_url={self.streams_api_url!r})"

    # --- transport ----------------------------------------------------------
    def _report(self, call: ApiCall) -> None:
        if self.on_call is not None:
            self.on_call(call)

    def _request(
        self,
        endpoint: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        json: Any = None,
        params: dict[str, Any] | None = None,
    ) -> requests.Response:
        method = endpoint.split(" ", 1)[0]
        # What this request carries that an echoing platform must not get into a row:
        # its header tokens and its body's passwords and oauth token.
        secrets = [v for v in (headers or {}).values() if v] + secret_fields(json)
        start = time.perf_counter()
        try:
            resp = self._send(endpoint, url, method, headers, json, params, start)
        except AnswerTooLarge as e:
            latency = time.perf_counter() - start
            self._report(ApiCall(endpoint, url, latency, None, "error", str(e)))
            raise ApiError(endpoint, url, None, str(e)) from e
        except requests.Timeout as e:
            latency = time.perf_counter() - start
            why = f"no answer within {self.timeout:g}s (timeout)"
            self._report(ApiCall(endpoint, url, latency, None, "timeout", why))
            raise ApiTimeout(endpoint, url, None, why) from e
        except requests.RequestException as e:
            latency = time.perf_counter() - start
            why = _reason(e)
            self._report(ApiCall(endpoint, url, latency, None, "error", why))
            raise ApiUnreachable(endpoint, url, None, why) from e
        latency = time.perf_counter() - start
        if resp.status_code != 200:
            body = mask_values(resp.text, secrets)[:BODY_LIMIT]
            self._report(ApiCall(endpoint, url, latency, resp.status_code, "error", body))
            raise ApiError(endpoint, url, resp.status_code, body)
        self._report(ApiCall(endpoint, url, latency, resp.status_code, "ok"))
        return resp

    def _send(self, endpoint: str, url: str, method: str, headers: dict[str, str] | None,
              json: Any, params: dict[str, Any] | None, start: float) -> requests.Response:
        """The request, following redirects only to the same origin and never down to
        http (redirects.py): a platform's 307 elsewhere gets neither its headers' tokens
        nor its body's passwords (requests' own following keeps both)."""
        for _ in range(MAX_REDIRECTS + 1):
            resp = self.session.request(
                method, url, headers=headers, json=json, params=params,
                timeout=self.timeout or None, stream=True, allow_redirects=False,
            )
            location = resp.headers.get("location")
            if resp.status_code not in REDIRECT_STATUS or not location:
                self._read_body(resp, start)
                return resp
            resp.close()
            target = urljoin(resp.url, location)
            why = refused(resp.url, target, same_origin=True)
            if why is not None:
                why = f"HTTP {resp.status_code}: {why}; not followed"
                self._report(ApiCall(endpoint, url, time.perf_counter() - start,
                                     resp.status_code, "error", why))
                raise ApiError(endpoint, url, resp.status_code, why)
            if resp.status_code == 303 or (resp.status_code in (301, 302) and method == "POST"):
                method, json = "GET", None  # as browsers and requests do
            url, params = target, None  # the Location holds its own query
        raise requests.TooManyRedirects(f"more than {MAX_REDIRECTS} redirects")

    def _read_body(self, resp: requests.Response, start: float) -> None:
        """The whole answer within the timeout counted from the request's start (not per
        read, as requests counts it): a server dripping its body ends as a timeout, not
        a fan hung for as long as the drip lasts. (Headers are bounded per read only.)"""
        deadline = start + self.timeout if self.timeout else None
        chunks: list[bytes] = []
        late = False
        size = 0
        try:
            while chunk := resp.raw.read1(READ_CHUNK, decode_content=True):
                chunks.append(chunk)
                size += len(chunk)
                if size > MAX_ANSWER_BYTES:
                    resp.close()
                    raise AnswerTooLarge(f"an answer over {MAX_ANSWER_BYTES >> 20} MiB "
                                         "(decompressed), not read on")
                if deadline is not None and time.perf_counter() > deadline:
                    late = True
                    break
        except urllib3.exceptions.ReadTimeoutError as e:
            resp.close()
            raise requests.ReadTimeout(str(e)) from e
        except (urllib3.exceptions.HTTPError, OSError) as e:
            resp.close()
            raise requests.ConnectionError(str(e)) from e
        if late:
            resp.close()
            raise requests.ReadTimeout(f"answer not complete in {self.timeout:g}s")
        # What requests keeps for .text and .json() once it has read a body itself.
        resp._content = b"".join(chunks)
        resp._content_consumed = True
        resp.raw.release_conn()

    def _json(self, endpoint: str, url: str, **kw: Any) -> dict[str, Any]:
        resp = self._request(endpoint, url, **kw)
        sent = [v for v in (kw.get("headers") or {}).values() if v] + secret_fields(
            kw.get("json"))
        try:
            data = resp.json()
        except ValueError as e:
            raise ApiError(endpoint, url, resp.status_code,
                           f"not JSON: {mask_values(resp.text[:1000], sent)}") from e
        if not isinstance(data, dict):
            raise ApiError(endpoint, url, resp.status_code,
                           f"not a JSON object: {mask_values(resp.text[:1000], sent)}")
        return data

    def _api(self, path: str) -> str:
        return f"{self.api_url}{path}"

    def _streams(self, path: str) -> str:
        return f"{self.streams_api_url}{path}"

    @staticmethod
    def _need(endpoint: str, url: str, data: dict[str, Any], *keys: str) -> None:
        missing = [k for k in keys if k not in data]
        if missing:
            # The answer's own session token must not reach the message.
            shown = mask_values(str(data)[:1000], secret_fields(data))
            raise ApiError(endpoint, url, 200, f"answer lacks {', '.join(missing)}: {shown}")

    # --- health ---------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        return self._json("GET /health", self._api("/health"))

    # --- influencer -------------------------------------------------------------
    def _influencer(self, endpoint: str, url: str, data: dict[str, Any]) -> Influencer:
        self._need(endpoint, url, data, "id", "username", "token")
        return Influencer(
            id=int(data["id"]),
            email=str(data.get("email", "")),
            username=str(data["username"]),
            token=str(data["token"]),
            servers_status=dict(data.get("servers_status") or {}),
        )

    def influencer_sign_in(self, email: str, oauth_token: str) -> Influencer:
        ep = "POST /api/v1/influencers/instagram_sign_in_or_up"
        url = self._api("/api/v1/influencers/instagram_sign_in_or_up")
        body = {"influencer": {"email": email, "oauth_token": oauth_token}}
        inf = self._influencer(ep, url, self._json(ep, url, json=body))
        remember(inf.token)  # the run's session: masked wherever text is written
        return inf

    @staticmethod
    def _inf_headers(inf: Influencer) -> dict[str, str]:
        return {"x-influencer-token": inf.token}

    def create_stream_alerts(self, inf: Influencer) -> None:
        self._request(
            "POST /api/v1/influencers/{I}/stream_alerts",
            self._api(f"/api/v1/influencers/{inf.id}/stream_alerts"),
            headers=self._inf_headers(inf),
        )

    def influencer_status(self, inf: Influencer) -> Influencer:
        ep, url = "GET /api/v1/influencers/{I}", self._api(f"/api/v1/influencers/{inf.id}")
        data = self._json(ep, url, headers=self._inf_headers(inf))
        fresh = self._influencer(ep, url, {"token": inf.token, **data})
        inf.servers_status = fresh.servers_status
        return fresh

    def wait_servers_ready(
        self, inf: Influencer, poll_s: float = 5.0, timeout_s: float = 120.0
    ) -> Influencer:
        """Poll the influencer until `servers_ready` with an origin address."""
        deadline = time.monotonic() + timeout_s
        while True:
            inf = self.influencer_status(inf)
            st = inf.servers_status
            if st.get("servers_ready") and st.get("origin_ip"):
                return inf
            if time.monotonic() + poll_s > deadline:
                raise ApiTimeout(
                    "GET /api/v1/influencers/{I}",
                    self._api(f"/api/v1/influencers/{inf.id}"),
                    None,
                    f"servers not ready within {timeout_s:g}s (last status {st})",
                )
            time.sleep(poll_s)

    def ingest_url(self, inf: Influencer) -> str:
        """servers_status.ingest_url if given, else the seed's rtmp://ORIGIN:PORT/live/USER."""
        st = inf.servers_status
        if st.get("ingest_url"):
            return str(st["ingest_url"])
        return seed_ingest_url(str(st.get("origin_ip", "")), self.origin_port, inf.username)

    def start_streaming(self, inf: Influencer) -> None:
        self._request(
            "POST /api/v1/influencers/{I}/streamings",
            self._api(f"/api/v1/influencers/{inf.id}/streamings"),
            headers=self._inf_headers(inf),
        )

    def end_streaming(self, inf: Influencer) -> None:
        self._request(
            "DELETE /api/v1/influencers/{I}/streamings",
            self._api(f"/api/v1/influencers/{inf.id}/streamings"),
            headers=self._inf_headers(inf),
        )

    # --- fan ----------------------------------------------------------------------
    def _fan(self, endpoint: str, url: str, data: dict[str, Any]) -> Fan:
        self._need(endpoint, url, data, "id", "token")
        return Fan(
            id=int(data["id"]),
            email=str(data.get("email", "")),
            username=str(data.get("username", "")),
            token=str(data["token"]),
        )

    def fan_sign_up(self, email: str, username: str, password: str) -> Fan:
        ep, url = "POST /api/v1/fans", self._api("/api/v1/fans")
        body = {
            "fan": {
                "email": email,
                "username": username,
                "password": password,
                "password_confirmation": password,
            }
        }
        return self._fan(ep, url, self._json(ep, url, json=body))

    def fan_sign_in(self, email: str, password: str) -> Fan:
        ep, url = "POST /api/v1/fans/sign_in", self._api("/api/v1/fans/sign_in")
        body = {"fan": {"email": email, "password": password}}
        return self._fan(ep, url, self._json(ep, url, json=body))

    @staticmethod
    def _fan_headers(fan: Fan) -> dict[str, str]:
        return {"x-fan-token": fan.token}

    def follow(self, fan: Fan, influencer_id: int) -> None:
        self._request(
            "POST /api/v1/fan_influencers",
            self._api("/api/v1/fan_influencers"),
            headers=self._fan_headers(fan),
            json={"influencer_id": influencer_id},
        )

    def unfollow(self, fan: Fan, influencer_id: int) -> None:
        self._request(
            "DELETE /api/v1/influencers/{I}/fan_influencer",
            self._api(f"/api/v1/influencers/{influencer_id}/fan_influencer"),
            headers=self._fan_headers(fan),
        )

    def use_code(self, fan: Fan, code_text: str) -> None:
        self._request(
            "POST /api/v1/codes/use",
            self._api("/api/v1/codes/use"),
            headers=self._fan_headers(fan),
            params={"code_text": code_text},
        )

    def marketplace(self, fan: Fan) -> list[int]:
        """Browse page 1 of influencers, then ask the fan's relations to them."""
        ep, url = "GET /api/v1/influencers/general", self._api("/api/v1/influencers/general")
        data = self._json(ep, url, headers=self._fan_headers(fan), params={"page": 1})
        try:
            ids = [int(i["id"]) for i in data.get("influencers", [])]
        except (KeyError, TypeError, ValueError) as e:
            raise ApiError(ep, url, 200, f"bad influencers list: {data}") from e
        self._request(
            "POST /api/v1/influencers/relation",
            self._api("/api/v1/influencers/relation"),
            headers=self._fan_headers(fan),
            json={"influencers": ids},
        )
        return ids

    # --- streams API ------------------------------------------------------------------
    def _key(self) -> dict[str, str]:
        return {"key": self.streams_token}

    def join_stream(self, fan: Fan, influencer_id: int) -> Playback:
        ep = "POST /streams/{I}/watchers"
        url = self._streams(f"/streams/{influencer_id}/watchers")
        data = self._json(ep, url, headers=self._key(), json={"id": fan.id})
        self._need(ep, url, data, "originIp", "influencerUsername")
        return Playback(
            origin_ip=str(data["originIp"]),
            influencer_username=str(data["influencerUsername"]),
            rtmp_url=data.get("rtmpUrl") or None,
            hls_url=data.get("hlsUrl") or None,
            flv_url=data.get("flvUrl") or None,
            dash_url=data.get("dashUrl") or None,
            llhls_url=data.get("llhlsUrl") or None,
        )

    def leave_stream(self, fan: Fan, influencer_id: int) -> None:
        self._request(
            "DELETE /streams/{I}/watchers/{F}",
            self._streams(f"/streams/{influencer_id}/watchers/{fan.id}"),
            headers=self._key(),
        )

    # --- playback -----------------------------------------------------------------------
    def resolve_edge(self, origin_ip: str, username: str, redirect_url: str | None = None) -> str:
        """Wowza-style edge lookup: SMIL `meta base`, `_definst_` -> `<username>_source`."""
        ep = "GET /redirect/live/{username}"
        url = redirect_url or seed_redirect_url(origin_ip, self.origin_port, username)
        resp = self._request(ep, url)
        try:
            return edge_url_from_smil(resp.text, username)
        except ValueError as e:
            raise ApiError(ep, url, resp.status_code, f"{e}: {resp.text}") from e

    def playback_url(
        self, fan: Fan, inf: Influencer, playback: Playback, protocol: str = "rtmp"
    ) -> str:
        """The join's explicit URL for `protocol` if given, else the edge resolution (RTMP)."""
        if protocol == "rtmp" and playback.rtmp_url:
            return playback.rtmp_url
        if protocol == "hls" and playback.hls_url:
            return playback.hls_url
        if protocol == "flv" and playback.flv_url:
            return playback.flv_url
        if protocol == "dash" and playback.dash_url:
            return playback.dash_url
        if protocol == "llhls" and playback.llhls_url:
            return playback.llhls_url
        if protocol != "rtmp":
            raise ValueError(
                f"the platform at {self.streams_api_url} gave no {protocol} URL for "
                f"{playback.influencer_username}; only rtmp can be resolved through the edge"
            )
        origin = playback.origin_ip or str(inf.servers_status.get("origin_ip", ""))
        redirect = inf.servers_status.get("edge_redirect_url")
        return self.resolve_edge(origin, playback.influencer_username or inf.username, redirect)

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> PlatformClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
