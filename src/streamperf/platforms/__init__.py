"""What streamperf needs from a platform, whichever it is (docs/platforms.md).

The adapter interface and the types an adapter speaks, importable from here:
`from streamperf.platforms import ApiCall, FanPlay, FanSpec, GoLive`. The
built-in adapters sit beside them: `direct` (stream URLs, no API), `seed`
(the seed tool's REST API) and `reference` (the bundled platform that
speaks it); `choose` picks the one a session uses.
"""

from streamperf.platforms.adapter import (
    ApiReport,
    FanPlay,
    GoLive,
    PlatformAdapter,
    WorkerJourneys,
)
from streamperf.platforms.api_calls import ApiCall, ApiError
from streamperf.platforms.fans import FanSpec
from streamperf.platforms.journeys import FanJourneyError

__all__ = ["ApiCall", "ApiError", "ApiReport", "FanJourneyError", "FanPlay", "FanSpec",
           "GoLive", "PlatformAdapter", "WorkerJourneys"]
