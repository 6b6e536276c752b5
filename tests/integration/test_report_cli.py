"""`streamperf report` and `streamperf live` run as a user runs them."""

from __future__ import annotations

import csv
import signal
import subprocess
import sys
import time

from tests.support.processes import ctrl_c_reaches_it
from tests.support.report_logs import SECRET, seed_rows, synthetic_run, write_run_dir

CLI = [sys.executable, "-m", "streamperf.cli"]


def streamperf(*args, **kw):
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120, **kw)


def test_report_of_a_seed_log(tmp_path):
    seed = tmp_path / "lastrun.csv"
    with open(seed, "w", newline="") as f:
        csv.writer(f).writerows(seed_rows())
    out = tmp_path / "seed-report.html"
    r = streamperf("report", str(seed), "-o", str(out), "--source-kbps", "1024")
    assert r.returncode == 1, r.stderr  # testfanB never got media: FAIL
    assert str(out) in r.stdout and "(FAIL, 3 viewers, seed log)" in r.stdout
    page = out.read_text(encoding="utf-8")
    assert "seed call #1" in page and "testfanC" in page
    assert page.count('src="data:image/png;base64,') == 7


def test_report_of_a_run_dir_uses_its_summary(tmp_path):
    # Judged against its own record: only the run's --sla threshold, lag threshold 5 s.
    summary = {"name": "test_live[steady]",
               "settings": {"users": 12, "lag_threshold_s": 3.0, "token": "***",
                            "streams_api_token": SECRET},
               "judged_against": {"thresholds": [{"expr": "p95(startup_s) < 0.5",
                                                  "source": "--sla"}],
                                  "lag_threshold_s": 5.0},
               "verdict": {"word": "FAIL"}}
    run = write_run_dir(tmp_path, synthetic_run(), summary)
    r = streamperf("report", str(run))
    assert r.returncode == 1, r.stderr
    assert r.stdout.splitlines()[1].startswith(
        "  ! p95(startup_s) < 0.5: measured 0.8 s, limit < 0.5 s; worst: fan4 (0.8 s), "
        "fan9 (0.8 s), ")
    assert len(r.stdout.splitlines()) == 2  # nothing else breached: lag judged at 5 s
    page = (run / "report.html").read_text(encoding="utf-8")
    assert "test_live[steady]" in page and "FAIL" in page
    assert "p95(startup_s) &lt; 0.5: measured 0.8 s" in page
    assert "lag threshold 5 s" in page
    assert SECRET not in page


def test_report_of_an_events_csv_alone_gets_a_verdict(tmp_path):
    run = write_run_dir(tmp_path, synthetic_run())
    out = tmp_path / "r.html"
    r = streamperf("report", str(run / "events.csv"), "-o", str(out), "--lag-threshold", "3")
    assert r.returncode == 1, r.stderr
    # No summary.json: the default checks decide; two viewers lagged.
    assert "(FAIL," in r.stdout
    assert "viewers lagged" in out.read_text(encoding="utf-8")


def test_report_bad_path_is_one_line_and_exit_2(tmp_path):
    r = streamperf("report", str(tmp_path / "nope"), "-o", str(tmp_path / "x.html"))
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "no event log" in r.stderr
    junk = tmp_path / "junk.csv"
    junk.write_text("hello,world\n")
    r = streamperf("report", str(junk))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().count("\n") == 0 and "neither" in r.stderr


def test_live_on_a_finished_log_prints_the_view_and_exits(tmp_path):
    run = write_run_dir(tmp_path, synthetic_run())
    r = streamperf("live", str(run / "events.csv"))
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "synthetic[run]" in out and "[ended: done]" in out
    assert "12/12 sessions established" in out
    assert "Streams lagged: [" in out and "2 lagged at some point" in out
    assert "total 14   errors 2   timeouts 1" in out
    assert "gen1" in out and "gen2" in out
    assert "\x1b[" not in out  # no escape codes when not a terminal


def test_live_reads_stdin(tmp_path):
    run = write_run_dir(tmp_path, synthetic_run(end=False))
    text = (run / "events.csv").read_text()
    r = streamperf("live", "-", input=text)
    assert r.returncode == 0, r.stderr
    assert "12/12 sessions established" in r.stdout and "[running]" in r.stdout


def test_live_follow_ends_cleanly_on_ctrl_c(tmp_path):
    run = write_run_dir(tmp_path, synthetic_run())
    p = subprocess.Popen([*CLI, "live", str(run), "--follow"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, preexec_fn=ctrl_c_reaches_it)
    try:
        time.sleep(2.0)
        assert p.poll() is None  # --follow keeps going past run_end
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert p.returncode == 0
    assert "Traceback" not in err
    assert "sessions established" in out
