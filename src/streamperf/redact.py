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

It runs on text a platform wrote (error bodies, RTMP status descriptions,
URIs), so every pattern is linear in the text: names and credentials are
bounded, possessive matches (no backtracking into them), and whether a name
says secret is a test of the name alone, not a pattern around it: 1 MiB of
hostile text is redacted in well under a second (tests/unit/test_secrets.py).

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
#: from this length a known value is masked before an underscore too (`KEY_hi`)
LONG_SECRET_LEN = 8

#: a parameter or field name says its value is secret when it holds one of these words
_SECRET_WORD = re.compile(
    r"token|secret|passw(?:or)?d|passwd|api[_-]?key|stream[_-]?key|auth|signature|"
    r"credential|private|session|jwt|hmac", re.I)
#: ... or is one of these
_SECRET_BARE = frozenset({"key", "sig", "pwd", "pass"})
NAME_MAX = 128  # a longer name is not looked at
#: a name a query value follows (`?name=`, `&name=`, `;name=`); the value
_QUERY_NAME = re.compile(rf"[?&;]([A-Za-z0-9_.-]{{1,{NAME_MAX}}}+)(?==)")
_QUERY_VALUE = re.compile(r"=([^&#\s'\"]++)")
#: a name a field value follows (`name=`, `name: `, `"name": "`); the value
_FIELD_NAME = re.compile(
    rf"(?<![A-Za-z0-9_.-])([A-Za-z0-9_.-]{{1,{NAME_MAX}}}+)(?=[\"']?\s{{0,16}}+[:=])")
_FIELD_VALUE = re.compile(
    r"[\"']?\s{0,16}+[:=]\s{0,16}+[\"']?(?:(?:Bearer|Basic|Digest|Token)\s{1,4}+)?"
    r"([^\"'\s,;&}\]]++)", re.I)
#: user:password@ in a URL (after //) or a host spec (at a word's start)
_USERINFO = re.compile(
    r"((?:^|[\s/=\"'(,\[]|//)[^\s:@/\"'(,]{1,128}+:)([^\s@/\"']{1,128}+)(@)")


def is_secret_name(name: str) -> bool:
    """Whether a parameter or field called `name` holds a secret (token, password,
    api_key, x-fan-token, sig, ...)."""
    return name.lower() in _SECRET_BARE or _SECRET_WORD.search(name) is not None


def _mask_values(text: str, names: re.Pattern[str], values: re.Pattern[str]) -> str:
    """`text` with the value after each secret name masked: a name `names` finds
    (group 1, not consuming what follows), its value `values` matches there (group 1)."""
    out: list[str] = []
    done = 0
    for m in names.finditer(text):
        if m.start(1) < done or not is_secret_name(m.group(1)):
            continue
        v = values.match(text, m.end(1))
        if v is not None:
            out += (text[done:v.start(1)], MASK)
            done = v.end(1)
    if not out:
        return text
    out.append(text[done:])
    return "".join(out)


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
                # "test" of "test_live_stream"; a long one (a generated key) is masked
                # before an underscore too, as nginx-rtmp names variants (KEY_hi).
                long = [re.escape(v) for v in ordered if len(v) >= LONG_SECRET_LEN]
                short = [re.escape(v) for v in ordered if len(v) < LONG_SECRET_LEN]
                alts = ([r"(?:" + "|".join(long) + r")(?![A-Za-z0-9])"] if long else []) + (
                    [r"(?:" + "|".join(short) + r")(?!\w)"] if short else [])
                self._known = re.compile(r"(?<!\w)(?:" + "|".join(alts) + ")")

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
            if "@" in text:
                text = _USERINFO.sub(rf"\1{MASK}\3", text)
            text = _mask_values(text, _QUERY_NAME, _QUERY_VALUE)
            text = _mask_values(text, _FIELD_NAME, _FIELD_VALUE)
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
        if eq and value and is_secret_name(name):
            found.append(value)
    return found


def stream_key(ingest_url: str, public_names: Iterable[str] = ()) -> str | None:
    """The stream key in an ingest URL's path, `rtmp://host/app/KEY`: its last
    segment, unless the URL carries its key in the query (`.../NAME?key=K`, masked
    as a query parameter) or the segment is a public stream name (the seed's
    `live/USER`). None when there is none."""
    try:
        parts = urlsplit(ingest_url.strip())
        path = parts.path
        if any(is_secret_name(p.partition("=")[0]) for p in re.split(r"[&;]", parts.query)):
            return None  # the key is in the query (masked as a query value)
    except ValueError:
        return None
    last = path.rstrip("/").rsplit("/", 1)[-1]
    if not last or last in set(public_names):
        return None
    return last


def masked_url(url: str, public_names: Iterable[str] = ()) -> str:
    """`url` with its stream key (stream_key) and its credentials masked, whether or not
    they were remembered: for a repr, which pytest prints before any run has begun."""
    for secret in sorted({stream_key(url, public_names), *url_secrets(url)} - {None},
                         key=len, reverse=True):
        url = url.replace(secret, MASK)
    return redact(url)


def remember_ingest(ingest_url: str, public_names: Iterable[str] = ()) -> None:
    """An ingest URL's secrets (stream key, credentials) masked from now on."""
    remember(stream_key(ingest_url, public_names), *url_secrets(ingest_url))
