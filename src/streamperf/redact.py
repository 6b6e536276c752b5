"""Secrets masked wherever text is written: the one home of redaction.

A run is handed credentials (the influencer's oauth token, the streams API
key, fan passwords, URLs with credentials, stream keys) and writes text
that may carry them: error bodies a platform echoes, exception text,
ffmpeg's log (which prints its output URL), URLs in rows and settings.
Everything written goes through `redact` (text) or `redact_obj` (JSON-like
values), which masks:

- the values registered as secret (`remember`): secret options, stream
  keys, URL credentials found in the settings; longest first, so a secret
  that contains another is masked whole; as whole words (not inside a
  longer word), and only from 4 characters on;
- URL userinfo, `scheme://user:PASSWORD@host` and host specs
  `user:PASSWORD@host`: the password becomes `***`;
- values of query parameters and `name=value` / `"name": "value"` pairs
  whose name says secret (token, key, secret, password, auth, sig...).

A process remembers its secrets for its lifetime (a run's secrets stay
secret in every later run of the session). Nothing here imports the rest of
streamperf, so every layer may use it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

MASK = "***"
#: shorter values are not masked as known secrets: "1" or "ok" would hide half a log
MIN_SECRET_LEN = 4

#: a parameter or field name that says its value is secret
SECRET_NAME = (r"(?:[A-Za-z0-9_.-]*(?:token|secret|passw(?:or)?d|passwd|api[_-]?key|"
               r"auth|signature|credential|private)[A-Za-z0-9_.-]*|key|sig|pwd|pass)")
_QUERY_PAIR = re.compile(rf"(?i)([?&;]{SECRET_NAME}=)([^&#\s'\"]+)")
_FIELD_PAIR = re.compile(
    rf"(?i)((?<![A-Za-z0-9_.-]){SECRET_NAME}[\"']?\s*[:=]\s*[\"']?)([^\"'\s,;&}}\]]+)")
#: user:password@ in a URL (after //) or a host spec (at a word's start)
_USERINFO = re.compile(r"((?:^|[\s/=\"'(,\[]|//)[^\s:@/\"'(,]+:)([^\s@/\"']+)(@)")


class Redactor:
    """Known secret values plus the patterns above; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._known: re.Pattern[str] | None = None

    def remember(self, *values: str | None) -> None:
        """Mask these values from now on (empty and very short ones are ignored)."""
        new = {v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET_LEN
               and v != MASK}
        with self._lock:
            if new - self._values:
                self._values |= new
                ordered = sorted(self._values, key=len, reverse=True)
                # Whole values only: a stream key "test" masks ".../live/test", not the
                # "test" of "test_live_stream".
                self._known = re.compile(
                    r"(?<!\w)(?:" + "|".join(re.escape(v) for v in ordered) + r")(?!\w)")

    def forget_all(self) -> None:
        """For tests: no value is secret any more (the patterns still apply)."""
        with self._lock:
            self._values.clear()
            self._known = None

    @property
    def values(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._values)

    def __call__(self, text: str) -> str:
        if not text:
            return text
        known = self._known
        if known is not None:
            text = known.sub(MASK, text)
        if "=" in text or ":" in text:
            text = _USERINFO.sub(rf"\1{MASK}\3", text)
            text = _QUERY_PAIR.sub(rf"\1{MASK}", text)
            text = _FIELD_PAIR.sub(rf"\1{MASK}", text)
        return text


#: the process's redactor: what every writer of text uses
REDACTOR = Redactor()


def remember(*values: str | None) -> None:
    REDACTOR.remember(*values)


def redact(text: str) -> str:
    """`text` with every known secret and every credential-looking part masked."""
    return REDACTOR(text)


def redact_obj(value: Any) -> Any:
    """Strings inside dicts, lists and tuples redacted (keys too); other values as they are."""
    if isinstance(value, str):
        return REDACTOR(value)
    if isinstance(value, dict):
        return {redact_obj(k): redact_obj(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_obj(v) for v in value]
    if isinstance(value, tuple):
        return tuple(redact_obj(v) for v in value)
    return value


def url_secrets(url: str) -> list[str]:
    """The secret parts of one URL: the userinfo password (and user with it) and the
    values of secret-named query parameters."""
    found: list[str] = []
    try:
        parts = urlsplit(url.strip())
        password = parts.password
    except ValueError:
        return found
    if password:
        found.append(password)
    for pair in re.split(r"[&;]", parts.query):
        name, eq, value = pair.partition("=")
        if eq and value and re.fullmatch(SECRET_NAME, name, re.I):
            found.append(value)
    return found


def stream_key(ingest_url: str, public_names: Iterable[str] = ()) -> str | None:
    """The stream key in an ingest URL's path, `rtmp://host/app/KEY`: its last
    segment, unless the URL carries its key in the query (`.../NAME?key=K`, masked
    as a query parameter) or the segment is a public stream name (the seed's
    `live/USER`). None when there is none."""
    if url_secrets(ingest_url):
        return None
    try:
        path = urlsplit(ingest_url.strip()).path
    except ValueError:
        return None
    last = path.rstrip("/").rsplit("/", 1)[-1]
    if not last or last in set(public_names):
        return None
    return last


def remember_ingest(ingest_url: str, public_names: Iterable[str] = ()) -> None:
    """An ingest URL's secrets (stream key, credentials) masked from now on."""
    remember(stream_key(ingest_url, public_names), *url_secrets(ingest_url))
