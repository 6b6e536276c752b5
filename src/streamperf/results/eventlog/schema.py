"""The event log's schema: its columns, its row kinds, one row (docs/events.md).

Every row is (t, host, viewer, event, name, value, status, detail). The
writer (writer.py) appends them, flushed at least once a second; the readers
(rows.py, columnar.py) take them back.
"""

from __future__ import annotations

import os
import socket
from typing import NamedTuple

# The viewers' own row kinds: first_video, first_audio, error (LOST_HOST is one more error
# name), and the ABR viewers' rendition (name=rendition, value=its kbps, detail=JSON: why, ...)
from streamperf.viewers.abr.rendition import RENDITION as RENDITION
from streamperf.viewers.abr.rendition import RENDITION_RATE as RENDITION_RATE
from streamperf.viewers.base import FIRST_AUDIO as FIRST_AUDIO
from streamperf.viewers.base import FIRST_VIDEO as FIRST_VIDEO
from streamperf.viewers.base import VIEWER_ERROR as VIEWER_ERROR

# The LL-HLS viewers' requests per sample window: event LLHLS, name one of llhls_rows'
# (PLAYLIST ... INIT, BLOCKED, EARLY: counts; WAIT: detail = each blocking wait in ms)
from streamperf.viewers.llhls import rows as llhls_rows  # noqa: F401  (re-exported)
from streamperf.viewers.llhls.rows import LLHLS as LLHLS

COLUMNS = ("t", "host", "viewer", "event", "name", "value", "status", "detail")
DETAIL_CHARS = 300  # the writer cuts a row's detail to this many characters

# How often rows come; readers size their windows by these.
VIEWER_SAMPLE_S = 1.0  # bytes and media_ts rows, per viewer
HOST_SAMPLE_S = 2.0  # host rows (CPU, memory, network, loop lag), per process

# Row kinds. Keep docs/events.md in step with this table.
RUN_START = "run_start"  # name=run id, detail=settings json (secrets redacted)
RUN_END = "run_end"  # name=reason (done|interrupted|error)
PUBLISH_START = "publish_start"  # value=T0 (unix s) of media ts 0, name=ingest url
PUBLISHER_EXIT = "publisher_exit"  # value=exit code, detail=stderr tail
SOURCE = "source"  # name=bitrate_kbps|duration_s|gop_s, value=figure of the source clip
#: SOURCE name of a ladder's rendition, before its name (bitrate_kbps:720p): value=its kbps
#: (video + audio, ffprobe), status=file, detail=its JSON (media/rungs.py Rendition)
SOURCE_RENDITION = "bitrate_kbps:"
CALIBRATION = "calibration"  # name=origin_latency_s: one lone viewer's latency at the origin
API = "api"  # name=endpoint, value=latency s, status=HTTP status|timeout|error
FAN_ABORT = "fan_abort"  # a critical API failure ended that fan; name=step
PLAY = "play"  # viewer asks to play; name=protocol, detail=url
SAMPLE_BYTES = "bytes"  # bytes received in the window ending at t; name=window s
SAMPLE_MEDIA_TS = "media_ts"  # newest media timestamp received (s)
SAMPLE_CAPTURE_T = "capture_t"  # unix time that newest media was captured (HLS PDT), if known
LOST_HOST = "lost_host"  # VIEWER_ERROR name: the process or host running that viewer died
RECONNECT = "reconnect"  # --reconnect: viewer plays again; name=protocol, value=attempt, detail=url
PLAY_END = "play_end"  # viewer finished watching normally; value=seconds watched
HOST_SAMPLE = "host"  # name=cpu_pct|rss_mib|net_in_bytes|net_out_bytes|loop_lag_s
LOAD_HOST = "load_host"  # a prepared remote host; name=clock_offset_s|rtt_s|cpus|nofile
PROGRESS = "progress"  # name=phase marker for humans (ramp_done, ...)


class Event(NamedTuple):
    t: float
    host: str
    viewer: str
    event: str
    name: str = ""
    value: float = 0.0
    status: str = ""
    detail: str = ""


def this_host() -> str:
    return os.environ.get("STREAMPERF_HOST") or socket.gethostname()


#: The longest line a reader takes (csv's own field limit): the writer cuts details at
#: 300 characters, so a longer line is not an event log's.
MAX_LINE_CHARS = 131072


class EventLogError(ValueError):
    """An event log that cannot be read; the message is one line naming file and line."""

