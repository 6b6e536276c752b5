"""Any stream by URL against node-media-server: a media server whose config we did not
write (npm package, pinned; RTMP in, RTMP and HTTP-FLV out).

ffmpeg publishes the clip into it (the `nms_stream` fixture), and the perf
scenarios run as a user runs them: `pytest tests/perf --play-url ...`, with
no platform API. `join_storm` only: its 20 fans arrive within a second, so
each run is its 10 s of watching.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.support.direct_runs import passed_with_media, run_direct
from tests.support.node_media_server import NodeMediaServer

from .conftest import STREAM

pytestmark = [pytest.mark.integration, pytest.mark.own_pytest, pytest.mark.realtime]

RUN = ["--users", "20", "--duration", "10s", "-k", "join_storm"]


def test_play_urls_of_node_media_server_over_rtmp_and_flv(
        nms_stream: tuple[NodeMediaServer, object], tmp_path: Path) -> None:
    """Its RTMP and its HTTP-FLV URL in one run: the fans spread round-robin over the two,
    each plays with the protocol its URL names."""
    nms, _ = nms_stream
    urls = nms.urls(STREAM)
    proc, summaries = run_direct(tmp_path, "--play-url", urls.rtmp, "--play-url", urls.flv,
                                 *RUN)
    passed_with_media(proc, summaries, runs=1, users=20)
    m = summaries[0]["metrics"]
    assert m["latency_basis"] == "not measurable"  # someone else publishes: no T0
    assert m["source_kbps_basis"] == "measured" and 800 < m["source_kbps"] < 1400
    assert m["min_bitrate_ratio"] > 0.9
    [viewers] = [p for p in (tmp_path / "reports").glob("*/viewers.csv")
                 if not p.parent.is_symlink()]
    v = pd.read_csv(viewers)
    assert v["protocol"].value_counts().to_dict() == {"rtmp": 10, "flv": 10}
    by_protocol = v.groupby("protocol")
    assert by_protocol["got_media"].all().all()
    assert (by_protocol["bitrate_ratio"].min() > 0.9).all(), v[["protocol", "bitrate_ratio"]]


def test_ingest_url_and_flv_play_url_on_node_media_server(
        node_media_server: NodeMediaServer, tmp_path: Path) -> None:
    """streamperf publishes into node-media-server and its fans watch over HTTP-FLV."""
    urls = node_media_server.urls("streamperf-own")
    proc, summaries = run_direct(tmp_path, "--ingest-url", urls.ingest, "--play-url", urls.flv,
                                 *RUN)
    passed_with_media(proc, summaries, runs=1, users=20)
    m = summaries[0]["metrics"]
    assert m["latency_basis"] == "publish clock"
    assert m["latency_p50_s"] is not None and 0 <= m["latency_p50_s"] < 3
