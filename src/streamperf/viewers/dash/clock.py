"""The server's clock for a DASH viewer, from the MPD's UTCTiming (DASH-IF IOP 4.7).

Segment availability is reckoned in the server's time (availabilityStartTime is
its), so a viewer whose host clock is off would ask too early (404s) or lag.
Schemes used: `http-iso` and `http-xsdate` (GET the URL: an ISO 8601 /
xs:dateTime body; the offset is taken at the request's midpoint) and `direct`
(the value is the time, taken as of when the MPD arrived). Others (http-head,
ntp, ...) are passed over; with none usable the host's clock is used, and the
viewer says so in its `clock` row.
"""

from __future__ import annotations

import time

from streamperf.viewers.dash.mpd import UTC_SCHEMES, Mpd, MpdError, UtcTiming, parse_datetime
from streamperf.viewers.http.client import HttpClient
from streamperf.viewers.http.connection import GetError
from streamperf.viewers.http.kept import CountsBytes, KeptBody

MAX_TIME_BODY = 4096  # bytes: a time answer is one line
DIRECT = "urn:mpeg:dash:utc:direct:2014"


class ClockError(Exception):
    """The UTCTiming source could not be used; the message says why, in one line."""


def usable_timing(mpd: Mpd) -> UtcTiming | None:
    """The first UTCTiming element with a scheme a viewer can use."""
    return next((u for u in mpd.utc_timing if u.scheme in UTC_SCHEMES and u.value), None)


async def server_offset(http: HttpClient, timing: UtcTiming, limit: float,
                        counter: CountsBytes, mpd_wall: float) -> float:  # fmt: skip
    """Server clock minus host clock (s), from `timing`; `mpd_wall` is when the MPD came."""
    try:
        if timing.scheme == DIRECT:
            return parse_datetime(timing.value, "UTCTiming@value") - mpd_wall
        sink = KeptBody(counter, MAX_TIME_BODY, "a time")
        sent = time.time()
        resp = await http.get(timing.value, limit, sink)
        back = time.time()
        if resp.status != 200:
            raise ClockError(f"GET {timing.value}: HTTP {resp.status}")
        text = sink.body().decode("latin-1").strip()
        return parse_datetime(text, f"GET {timing.value}") - (sent + back) / 2
    except GetError as e:
        raise ClockError(f"GET {timing.value}: {e.why}") from None
    except MpdError as e:
        raise ClockError(str(e)) from None


__all__ = ["ClockError", "server_offset", "usable_timing"]
