"""The HTTP client HLS viewers share: one aiohttp session per event loop, tuned.

Thousands of viewers in one loop: no connection limit, keep-alive reuse, and
glibc's malloc thresholds raised so read buffers are not mapped and unmapped
on every segment (that halved an HLS viewer's cost; docs/hls.md).
"""

from __future__ import annotations

import ctypes
import platform
import sys

import aiohttp

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters, glibc's malloc.h
_malloc_tuned = False


def tune_malloc(mmap_threshold: int = 4 << 20, trim_threshold: int = 64 << 20) -> bool:
    """Stop glibc from returning freed read buffers to the kernel; True if applied.

    The event loop reads up to 256 KiB per recv into a new bytes object
    (uvloop always, asyncio by default), and segments arrive in bursts
    that big. With glibc's defaults such blocks are mmapped, or the heap
    top is trimmed after they are freed, so reads land on fresh pages:
    measured with 500 viewers, 43-56 page faults per viewer per second and
    0.045% of a core per viewer, 0.027% with this. Raising both thresholds
    keeps those pages in the process (at most `trim_threshold` of free heap
    is kept). Process-wide and once; glibc only, else a no-op.
    """
    global _malloc_tuned
    if _malloc_tuned:
        return True
    if sys.platform != "linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    _malloc_tuned = bool(
        mallopt(_M_MMAP_THRESHOLD, mmap_threshold) and mallopt(_M_TRIM_THRESHOLD, trim_threshold)
    )
    return _malloc_tuned


def make_session(
    connect_timeout: float = 10.0,
    trace_configs: list[aiohttp.TraceConfig] | None = None,
    tune: bool = True,
) -> aiohttp.ClientSession:
    """A ClientSession for many viewers of one loop (call inside the loop).

    No connection limit (the default 100 would queue viewers behind each
    other), keep-alive reuse, no cookie jar. Per-request timeouts are set
    by the viewer; `sock_read` stays off because aiohttp re-arms that timer
    on every read. `tune` also applies `tune_malloc()` to the process.
    """
    if tune:
        tune_malloc()
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, ttl_dns_cache=None)
    return aiohttp.ClientSession(
        connector=connector,
        cookie_jar=aiohttp.DummyCookieJar(),
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout),
        trace_configs=trace_configs,
    )


