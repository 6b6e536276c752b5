"""Scale-out over SSH end to end: two real sshd on 127.0.0.2 and 127.0.0.3 carry the viewers.

The hosts are this machine seen through OpenSSH, each sshd with its own
home, so the default `--remote-dir` (~/.streamperf), the one users get,
gives each host its own venv and logs as separate machines would have. The
second host has no SFTP subsystem. Preparing needs the wheelhouse (built
once into the cache from PyPI, then reused); the hosts' venvs are prepared
by the session's first test and reused by the later ones, as on real load
hosts (each xdist worker has its own lab).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest

from streamperf.results.eventlog.rows import read_events
from streamperf.session import StreamperfSession
from streamperf.settings import build_settings
from tests.support.nested_pytest import ROOT, pytest_process, run_dirs, run_perf
from tests.support.sshd_lab import Lab

pytestmark = [pytest.mark.integration, pytest.mark.loads_cpu, pytest.mark.realtime]


def ssh_args(lab: Lab) -> list[str]:
    """No --remote-dir: the default is what users run with. No test here reads the
    lone viewer's latency, so no calibration."""
    return ["--sshhosts", lab.sshhosts, "--sshkeyfile", str(lab.key),
            "--known-hosts", str(lab.known_hosts), "--calibration", "0"]


def host_names(lab: Lab) -> list[str]:
    return [f"{s.addr}:{s.port}" for s in lab.servers]


def test_pytest_perf_with_two_ssh_hosts(lab: Lab, tmp_path: Path) -> None:
    """`pytest tests/perf --users 200 --sshhosts "..."`: both hosts prepared and loaded.

    One scenario: with --ramp given the two would be the same run twice."""
    r = run_perf(tmp_path / "reports", "-k", "join_storm", "--users", "200", "--ramp", "25ms",
                 "--duration", "12s", *ssh_args(lab), timeout=900)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-5000:]
    assert "1 passed" in r.stdout
    hosts = host_names(lab)
    runs = run_dirs(tmp_path / "reports")
    assert len(runs) == 1
    for run in runs:
        summary = json.loads((run / "summary.json").read_text())
        assert summary["breaches"] == [] and summary["invalid"] is None
        assert summary["lost_hosts"] == {}
        prepared = {h["host"]: h for h in summary["load_hosts"]}
        assert sorted(prepared) == sorted(hosts)
        homes = {f"{sv.addr}:{sv.port}": sv.home for sv in lab.servers}
        for name, h in prepared.items():
            # ~/.streamperf resolved on each host, in that host's home.
            assert h["remote_dir"] == f"{homes[name]}/.streamperf"
            assert h["venv_python"] == f"{homes[name]}/.streamperf/venv/bin/python"
            assert abs(h["clock_offset_s"]) < 0.05
        # One event log; every viewer ran on a load host, half on each.
        df = read_events(run / "events.csv")
        per_host = df[df["event"] == "play"].groupby("host")["viewer"].nunique().to_dict()
        assert per_host == {hosts[0]: 100, hosts[1]: 100}, per_host
        assert summary["metrics"]["viewers_with_media"] == 200
        # Host metrics from each load host are in the log.
        sampled = df[df["event"] == "host"].groupby("host")["name"].unique()
        for host in hosts:
            assert {"cpu_pct", "net_in_bytes", "loop_lag_s"} <= set(sampled[host])
            log = run / "hosts" / host.replace(":", "_") / f"shard-{hosts.index(host)}.log"
            assert "done rows=" in log.read_text(), log
        assert summary["hosts"][hosts[0]]["viewers"] == 100
    assert "streamperf" in r.stdout and "PASS" in r.stdout


def _shard_pid(log: Path, deadline: float) -> int:
    while time.monotonic() < deadline:
        if log.exists():
            for line in log.read_text().splitlines():
                if " plan " in line and " sent " not in line:
                    return int(line.split("pid=")[1].split()[0])
        time.sleep(0.2)
    raise AssertionError(f"no shard log at {log}")


def _sent_before_kill(log: Path) -> int:
    sent = [int(line.split()[-1]) for line in log.read_text().splitlines()
            if line.split()[1:2] == ["sent"]]
    return sent[-1] if sent else 0


def test_killing_one_hosts_shard_mid_run(lab: Lab, tmp_path: Path) -> None:
    hosts = host_names(lab)
    raw = dict(zip(["ssh_hosts", "ssh_key_file", "known_hosts", "calibration_s"],
                   ssh_args(lab)[1::2], strict=True))
    settings = build_settings({**raw, "users": "40", "ramp_s": "50ms", "duration_s": "14s",
                               "report_dir": str(tmp_path / "reports")}, environ={})
    session = StreamperfSession(settings, ROOT)
    result: dict[str, object] = {}
    try:
        stream = session.stream()
        session.load_hosts()
        run = threading.Thread(target=lambda: result.update(
            outcome=session.run_load("kill_one_host", {}, stream)))
        run.start()
        deadline = time.monotonic() + 60
        while not (tmp_path / "reports" / "latest").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        run_id = (tmp_path / "reports" / "latest").resolve().name
        victim_log = lab.servers[1].home / ".streamperf" / "logs" / run_id / "shard-1.log"
        pid = _shard_pid(victim_log, deadline)
        # By PID, after checking it is the shard's python in that host's venv.
        assert str(lab.servers[1].home) in " ".join(psutil.Process(pid).cmdline())
        time.sleep(5)  # every fan has arrived (40 x 50 ms) and watched for a while
        os.kill(pid, signal.SIGKILL)
        killed_at = time.time()
        sent = _sent_before_kill(victim_log)
        run.join(120)
        assert not run.is_alive()
    finally:
        session.close()
    outcome = result["outcome"]
    summary = outcome.summary  # type: ignore[attr-defined]
    assert list(summary["lost_hosts"]) == [hosts[1]]
    df = read_events(outcome.events_path)  # type: ignore[attr-defined]
    victim = df[df["host"] == hosts[1]]
    lost = victim[(victim["event"] == "error") & (victim["name"] == "lost_host")]
    # Its viewers failed from the moment of loss; the other host's finished normally.
    assert set(lost["viewer"]) == set(victim[victim["event"] == "play"]["viewer"])
    assert len(lost) == 20 and (lost["t"] >= killed_at - 1).all()
    survivor = df[df["host"] == hosts[0]]
    assert survivor[survivor["event"] == "play_end"]["viewer"].nunique() == 20
    # Every row the shard handed to its channel before the kill is in the log.
    print(f"victim shard: {sent} rows sent before the kill, {len(victim) - len(lost)} in the log")
    assert sent > 0
    assert len(victim) - len(lost) >= sent
    # The run finished and says why it failed; the report names the lost host.
    assert not outcome.passed  # type: ignore[attr-defined]
    assert any("count(errors)" in b for b in summary["breaches"])
    report = (outcome.run_dir / "report.html").read_text()  # type: ignore[attr-defined]
    assert "Lost load generators" in report and hosts[1] in report
    assert hosts[1] in outcome.fragment  # type: ignore[attr-defined]
    viewers = pd.read_csv(outcome.run_dir / "viewers.csv")  # type: ignore[attr-defined]
    assert viewers["first_error"].fillna("").str.startswith("lost_host:").sum() == 20


def test_unreachable_and_unknown_hosts_fail_set_up_naming_each(lab: Lab, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    s = lab.servers[0]
    r = run_perf(tmp_path / "reports", "-k", "join_storm",
                 "--sshhosts", f"root@{s.addr}:{s.port} root@127.0.0.3:1", "--sshkeyfile", lab.key,
                 "--known-hosts", empty, "--remote-dir", tmp_path / "{host}", timeout=600)
    out = r.stdout + r.stderr
    assert r.returncode == 1, out[-3000:]
    assert "Traceback" not in out and "During handling" not in out
    line = next(x for x in out.splitlines() if "streamperf set-up failed" in x)
    assert f"host key for {s.addr}:{s.port} not in {empty}; add it with ssh-keyscan" in line
    assert "cannot reach 127.0.0.3:1: connection refused" in line
    assert not list((tmp_path / "reports").glob("*/events.csv"))  # nothing ran


def test_ctrl_c_stops_remote_shards_cleanly(lab: Lab, tmp_path: Path) -> None:
    """SIGINT to the terminal's whole process group, as Ctrl-C sends it."""
    reports = tmp_path / "reports"
    with pytest_process("tests/perf", "-k", "steady_audience", "--users", "20", "--ramp", "50ms",
                        "--duration", "60s", "--report-dir", reports, *ssh_args(lab),
                        own_group=True) as proc:
        deadline = time.monotonic() + 240
        events = reports / "latest" / "events.csv"
        while time.monotonic() < deadline and proc.poll() is None:
            if events.exists() and events.read_text().count(",bytes,") >= 40:
                break
            time.sleep(0.5)
        os.killpg(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 2, out[-3000:]  # pytest: interrupted
    run = (reports / "latest").resolve()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["interrupted"] is True
    # Neither the ssh clients nor ffmpeg died with the terminal's signal.
    assert summary["lost_hosts"] == {} and summary["invalid"] is None
    df = read_events(run / "events.csv")
    played = set(df[df["event"] == "play"]["viewer"])
    assert len(played) == 20
    assert set(df[df["event"] == "play_end"]["viewer"]) == played  # every shard flushed
    assert df[df["event"] == "run_end"]["name"].tolist() == ["interrupted"]
    assert (run / "report.html").exists()
