"""The CI gate end to end: pytest itself runs the perf test against the bundled
platform, and its exit status, messages, JUnit XML and HTML report are checked.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from streamperf.cli import main
from tests.support.nested_pytest import ROOT, run_dirs, run_perf

pytestmark = pytest.mark.realtime

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "reports" / "artifacts"
SMALL = ["-k", "join_storm", "--users", "4", "--duration", "8s"]
PROBE = """<script>
window.addEventListener("load", () => {
  // pytest-html's own page has an empty <img src=""> placeholder for media extras.
  const imgs = Array.from(document.images).filter(i => i.getAttribute("src"));
  const ok = imgs.filter(i => i.complete && i.naturalWidth > 0);
  const out = document.createElement("pre");
  out.id = "image-probe";
  out.textContent = `IMAGES loaded=${ok.length} total=${imgs.length}`;
  document.body.appendChild(out);
});
</script>"""


def perf(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # No calibration: no test here reads the lone viewer's latency.
    return run_perf(tmp_path / "reports", "--calibration", "0", *args)


def judged_again(run: Path, tmp_path: Path,
                 capsys: pytest.CaptureFixture[str]) -> list[tuple[int, str, list[str]]]:
    """(exit status, word, breaches) of `streamperf summary` and `streamperf report` on run.

    In this process (the CLI's own main; tests/integration/test_report_cli.py runs the
    command itself): a subprocess each would import pandas and matplotlib again."""
    out = []
    capsys.readouterr()
    for args in (["summary", str(run)], ["report", str(run), "-o", str(tmp_path / "r.html")]):
        code = main(args)
        printed = capsys.readouterr().out
        first = printed.splitlines()[0]
        word = re.search(r": (\w+)" if args[0] == "summary" else r"  \((\w+),", first)
        assert word, printed
        out.append((code, word.group(1),
                    [line[4:] for line in printed.splitlines() if line.startswith("  ! ")]))
    return out


def only_run_dir(tmp_path: Path) -> Path:
    dirs = run_dirs(tmp_path / "reports")
    assert len(dirs) == 1, dirs
    return dirs[0]


@pytest.mark.own_pytest(slots=2)  # a pytest with two xdist workers
def test_passing_runs_side_by_side_report_junit_and_baseline(tmp_path, capsys):
    """Both scenarios on two pytest-xdist workers, with every CI output asked for."""
    html = tmp_path / "pytest-report.html"
    junit = tmp_path / "junit.xml"
    r = perf(tmp_path, "-n", "2", "--users", "4", "--duration", "8s",
             "--html", str(html), "--self-contained-html",
             "--junitxml", str(junit), "--save-baseline", str(tmp_path / "base.json"))
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert "2 passed" in r.stdout
    # The workers' runs still print their tables in the controller's terminal summary.
    section = r.stdout.split(" streamperf ", 1)[1]
    for scenario in ("steady_audience", "join_storm"):
        assert f"streamperf test_live_stream[{scenario}]: PASS" in section
    assert section.count("viewers with media                         4 / 4") == 2

    runs = run_dirs(tmp_path / "reports")
    assert len(runs) == 2, runs
    for run in runs:
        summary = json.loads((run / "summary.json").read_text())
        assert summary["versions"]["ffmpeg"].startswith("ffmpeg version")
        assert summary["hosts"] and all("cpu_pct_max" in h for h in summary["hosts"].values())
        assert {s["threshold"] for s in summary["sla"]} >= {"p95(startup_s) <= 5",
                                                            "max(lagged) == 0"}
        assert all(s["passed"] for s in summary["sla"])
        assert (run / "report.html").is_file() and len(list((run / "charts").glob("*.png"))) >= 6
        assert summary["verdict"]["word"] == "PASS"
        assert judged_again(run, tmp_path, capsys) == [(0, "PASS", [])] * 2
    assert (tmp_path / "base.json").is_file()

    cases = ET.parse(junit).findall(".//testcase")
    assert len(cases) == 2
    for case in cases:
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        assert props["streamperf_verdict"] == "pass"
        assert float(props["streamperf_viewers_with_media"]) == 4
        assert float(props["streamperf_startup_p95_s"]) > 0

    page = html.read_text()
    assert "<h2>streamperf runs</h2>" in page
    assert "test_live_stream[join_storm]" in page and "test_live_stream[steady_audience]" in page

    if not CHROMIUM.exists():
        pytest.skip("needs headless Chromium to open the report: apt-get install -y chromium")
    probe = tmp_path / "probe.html"
    probe.write_text(html.read_text().replace("</body>", PROBE + "</body>"))
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(["/usr/bin/chromium", *flags, "--virtual-time-budget=5000",
                          "--dump-dom", probe.as_uri()],
                         capture_output=True, text=True, timeout=120)
    found = re.search(r"IMAGES loaded=(\d+) total=(\d+)", dom.stdout)
    assert found, dom.stderr[-2000:]
    loaded, total = int(found.group(1)), int(found.group(2))
    assert total >= 12 and loaded == total, (loaded, total)
    shot = tmp_path / "shot.png"
    subprocess.run(["/usr/bin/chromium", *flags, f"--screenshot={shot}",
                    "--window-size=1280,5000", html.as_uri()],
                   capture_output=True, text=True, timeout=120, check=True)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, ARTIFACTS / "pytest-html-screenshot.png")
    shutil.copy(html, ARTIFACTS / "pytest-html-report.html")


@pytest.mark.own_pytest
def test_breached_threshold_and_baseline_regression_fail_naming_value_and_limit(tmp_path, capsys):
    # A baseline from an impossibly better past (twice the source's bitrate), so
    # today's run regressed whatever the machine's timing.
    base = tmp_path / "better.json"
    base.write_text(json.dumps({"name": "better", "figures": {"bitrate_ratio_mean": 2.0}}))
    r = perf(tmp_path, *SMALL, "--sla", "p95(startup_s) < 0.001", "--baseline", str(base))
    out = r.stdout
    assert r.returncode == 1, out[-4000:] + r.stderr[-2000:]
    assert re.search(r"SLA breached: p95\(startup_s\) < 0\.001: measured [\d.]+ m?s, "
                     r"limit < 0\.001 s; worst: testfan", out), out[-4000:]
    assert re.search(r"bitrate_ratio_mean = mean\(bitrate_ratio\) vs baseline 'better': "
                     r"measured [\d.]+ \(baseline 2", out), out[-4000:]
    # The example: `streamperf summary` used to print PASS here and exit 0.
    run = only_run_dir(tmp_path)
    breaches = json.loads((run / "summary.json").read_text())["breaches"]
    assert all(f"SLA breached: {b}" in out for b in breaches)
    assert f"test_live_stream[join_storm]: FAIL ({len(breaches)} breached)" in out
    assert judged_again(run, tmp_path, capsys) == [(1, "FAIL", breaches)] * 2


@pytest.mark.own_pytest
def test_invalid_run_is_an_error_not_a_failure(tmp_path, capsys):
    # The publisher is killed by PID mid-run: nothing is left to judge the platform by.
    test = tmp_path / "test_dies.py"
    test.write_text(
        "import os, signal, threading\n"
        "import pytest\n\n"
        "@pytest.fixture\n"
        "def kill_publisher(stream):\n"
        "    timer = threading.Timer(3.0, os.kill, (stream.publisher.pid, signal.SIGKILL))\n"
        "    timer.start()\n"
        "    yield\n"
        "    timer.cancel()\n\n"
        "@pytest.mark.parametrize('scenario', [{'users': 2, 'ramp_s': 0.1, 'duration_s': 8}])\n"
        "def test_dies(scenario, kill_publisher, streamperf_run):\n"
        "    assert streamperf_run.passed\n")
    junit = tmp_path / "junit.xml"
    r = run_perf(tmp_path / "reports", "--calibration", "0",  # not read here
                 "--junitxml", junit, tests=test, cwd=tmp_path)
    out = r.stdout
    assert r.returncode == 1, out[-4000:]
    assert "1 error" in out and "failed" not in out.splitlines()[-1], out[-2000:]
    assert "ERROR at setup of test_dies" in out
    assert "INVALID RUN: publisher died" in out
    case = ET.parse(junit).find(".//testcase")
    assert case is not None and case.find("error") is not None and case.find("failure") is None
    assert "streamperf test_dies[scenario0]: INVALID" in out
    run = only_run_dir(tmp_path)
    again = judged_again(run, tmp_path, capsys)
    assert [(code, word) for code, word, _ in again] == [(3, "INVALID")] * 2
