from __future__ import annotations

import csv

import pytest

from streamperf.results.analysis.figures import analyse
from streamperf.results.eventlog import schema as ev
from streamperf.results.eventlog.schema import COLUMNS
from streamperf.results.eventlog.seed_log import load_any, read_seed, sniff
from streamperf.results.eventlog.writer import EventWriter
from tests.support.report_logs import seed_rows


def write_seed(path, rows, header=False):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        if header:
            w.writerow(["session", "seconds", "metric", "value"])
        w.writerows(rows)
    return path


@pytest.fixture
def seed_csv(tmp_path):
    return write_seed(tmp_path / "lastrun.csv", seed_rows())


def test_seed_log_is_read_into_the_event_schema(seed_csv):
    df = load_any(seed_csv)
    assert tuple(df.columns) == COLUMNS
    assert str(df["viewer"].dtype) == "string" and df["t"].dtype == float
    start = df[df["event"] == ev.RUN_START]
    assert start["name"].tolist() == ["lastrun"] and start["status"].tolist() == ["seed"]
    assert df["t"].is_monotonic_increasing


def test_per_viewer_figures_worked_out_by_hand(seed_csv):
    a = analyse(load_any(seed_csv), lag_threshold_s=3.0)
    v = a.viewers.set_index("viewer")
    assert sorted(v.index) == ["testfanA", "testfanB", "testfanC"]
    assert set(v["host"]) == {"m1"}
    # The last call (leave) returns 0.5 s after the start; the first report comes at 1.0.
    assert v.loc["testfanA", "api_s"] == pytest.approx(0.5)
    assert v.loc["testfanA", "startup_s"] == pytest.approx(0.5)
    # 125 KiB/s = 128000 B/s = 1024 kbps, for the 20 s from the first report to the last.
    assert v.loc["testfanA", "mean_kbps"] == pytest.approx(1024.0)
    assert v.loc["testfanA", "media_s"] == pytest.approx(20.0)
    assert v.loc["testfanA", "watched_s"] == pytest.approx(20.0)
    assert v.loc["testfanA", "max_drift_s"] == pytest.approx(0.0, abs=1e-6)
    assert (v.loc["testfanA", "stalls"], v.loc["testfanA", "lagged_s"]) == (0, 0)

    # testfanC: media frozen for 4 s, so 16 s of media in 20 s, drift 4 s at the end.
    assert v.loc["testfanC", "media_s"] == pytest.approx(16.0)
    assert v.loc["testfanC", "mean_kbps"] == pytest.approx(1024.0 * 16 / 20)
    assert v.loc["testfanC", "max_drift_s"] == pytest.approx(4.0)
    # Media time is 20.25 from 6.25 s to 10.25 s (fan's clock): drift at the 1 s samples
    # 7..10 is 0.75, 1.75, 2.75, 3.75, then 4.0 up to 21: 12 samples over 3 s.
    assert v.loc["testfanC", "lagged_s"] == 12
    assert (v.loc["testfanC", "stalls"], v.loc["testfanC", "stall_s"]) == (1, pytest.approx(4.0))

    assert v.loc["testfanB", "aborted"] and not v.loc["testfanB", "got_media"]
    assert v.loc["testfanB", "first_error"] == "seed call #1: ApiError (critical)"
    s = a.summary()
    assert (s["viewers_with_media"], s["viewers_aborted"], s["viewers_lagged"]) == (2, 1, 1)


def test_api_calls_are_counted_once_with_their_failure(seed_csv):
    a = analyse(load_any(seed_csv))
    api = a.api.set_index("endpoint")
    # 5 calls each for A and C, one failed call for B: 11 calls, 1 error (not 12 rows).
    assert (a.api_calls, a.api_errors) == (11, 1)
    assert api.loc["seed call #1", "calls"] == 3 and api.loc["seed call #1", "errors"] == 1
    # Latency = time since the fan's previous row: 0.1 s between calls, 0.2 s for B.
    assert api.loc["seed call #2", "p50_s"] == pytest.approx(0.1)
    df = load_any(seed_csv)
    b = df[(df["viewer"] == "testfanB") & (df["event"] == ev.API)]
    assert b[["value", "status"]].values.tolist() == [[pytest.approx(0.2), "error"]]


def test_fan_times_sit_on_the_machine_clock(seed_csv):
    df = read_seed(str(seed_csv), base_t=1000.0)
    first = df[df["event"] == ev.FIRST_VIDEO].set_index("viewer")["t"]
    # A started right after the machine's 2.0 s sample, C after 6.0: +1.0 s to media.
    assert first.to_dict() == {"testfanA": pytest.approx(1003.0),
                               "testfanC": pytest.approx(1007.0)}
    plays = df[df["event"] == ev.PLAY].set_index("viewer")["t"]
    assert plays["testfanA"] == pytest.approx(1002.5)


def test_host_rows_become_deltas_and_cpu(seed_csv):
    df = load_any(seed_csv)
    host = df[df["event"] == ev.HOST_SAMPLE]
    assert set(host["host"]) == {"m1"}
    cpu = host[host["name"] == "cpu_pct"]["value"].tolist()
    assert cpu == [20.0 + k for k in range(16)]
    # Counters in KiB since boot: 250 KiB more every 2 s; the first sample has no delta.
    net_in = host[host["name"] == "net_in_bytes"]["value"].tolist()
    assert net_in == [250 * 1024.0] * 15
    net_out = host[host["name"] == "net_out_bytes"]["value"].tolist()
    assert net_out == [10 * 1024.0] * 15


def test_sniff_tells_the_formats_apart(tmp_path, seed_csv):
    assert sniff(seed_csv) == "seed"
    with_header = write_seed(tmp_path / "h.csv", seed_rows(), header=True)
    assert sniff(with_header) == "seed"
    assert len(load_any(with_header)) == len(load_any(seed_csv))
    run = tmp_path / "run"
    with EventWriter(run / "events.csv") as w:
        w.emit(ev.RUN_START, name="x", host="h", t=1.0)
        w.emit(ev.RUN_END, name="done", host="h", t=2.0)
    assert sniff(run / "events.csv") == "streamperf"
    assert load_any(run)["event"].tolist() == [ev.RUN_START, ev.RUN_END]
    junk = tmp_path / "junk.csv"
    junk.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(ValueError, match="neither a streamperf event log nor a seed"):
        load_any(junk)


def test_a_fan_without_a_start_row_and_a_reused_name(tmp_path):
    rows = [
        ["m1", "10.00", "CPUUsage", "5"],
        # The log was cut: testfanZ's start is missing; its rows are 3 s into its life.
        ["testfanZ", "3.00", "StreamProgressKiloBytes", "10"],
        ["testfanZ", "3.00", "StreamProgressSeconds", "30"],
        ["testfanZ", "4.00", "StreamProgressKiloBytes", "135"],
        ["testfanZ", "4.00", "StreamProgressSeconds", "31"],
        ["testfanY", "0", "StartTestOnMachine", "m1"],
        ["testfanY", "0", "StartTestOnMachine", "m1"],
    ]
    df = read_seed(str(write_seed(tmp_path / "cut.csv", rows)))
    z = df[(df["viewer"] == "testfanZ") & (df["event"] == ev.FIRST_VIDEO)]
    assert z["t"].tolist() == [pytest.approx(10.0)]  # placed at the newest machine time
    a = analyse(df)
    assert a.viewers.set_index("viewer").loc["testfanZ", "mean_kbps"] == pytest.approx(1024.0)
    assert {"testfanY", "testfanY~2"} <= set(df["viewer"])
