"""Which redirects a client of streamperf follows (docs/reliability.md, "Redirects").

The platform API client carries credentials (the influencer's oauth token, fan
passwords, the streams key, fan tokens, in headers and bodies): it follows a
redirect only to the same origin (scheme, host and port), so none of them
reaches another server, and never from https down to http. The viewers carry
no credential but what a URL holds itself, and CDNs send players to other
hosts: they follow redirects anywhere over http(s) except down from https.
Nothing here imports the rest of streamperf, so every layer may use it.
"""

from __future__ import annotations

from urllib.parse import urlsplit

MAX_REDIRECTS = 5
REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})
DEFAULT_PORTS = {"http": 80, "https": 443}  # the schemes a client of ours speaks


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return (parts.scheme, (parts.hostname or "").lower(),
            parts.port or DEFAULT_PORTS.get(parts.scheme))


def refused(source: str, target: str, same_origin: bool) -> str | None:
    """Why a redirect from `source` to `target` is not followed, or None to follow it.
    `same_origin`: only to the source's origin (a client carrying credentials)."""
    try:
        src, dst = _origin(source), _origin(target)
    except ValueError:
        return f"a redirect to a URL that does not parse ({target[:200]!r})"
    if dst[0] not in ("http", "https"):
        return f"a redirect to a {dst[0] or 'relative'}: URL, not http(s)"
    if src[0] == "https" and dst[0] == "http":
        return f"a redirect from https down to plain http ({target[:200]})"
    if same_origin and src != dst:
        return (f"a redirect to another origin ({dst[0]}://{dst[1]}:{dst[2]}), which would "
                "get this request's credentials")
    return None


__all__ = ["DEFAULT_PORTS", "MAX_REDIRECTS", "REDIRECT_STATUS", "refused"]
