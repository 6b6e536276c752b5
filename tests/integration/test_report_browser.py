"""The HTML report opened in headless Chromium, as a person would look at it.

Every chart image loads; the page opens with the verdict and its tiles (a
breached check's tile stands out in red), then the charts, then the tables;
settings left empty are not listed.

Needs the Debian package `chromium` (/usr/bin/chromium). The screenshots are
kept as artifacts: reports/artifacts/report-{fail,pass}-screenshot.png under
the repository.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from streamperf.results.eventlog import schema as ev
from streamperf.results.judging.judge import Basis, analyse_for, judge
from streamperf.results.report.artifacts import chart_limits
from streamperf.results.report.html import render_report
from tests.support.report_logs import synthetic_run

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "reports" / "artifacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SETTINGS = {"users": 12, "percent_new": 0, "token": "***", "api_url": "", "video_path": "",
            "media_port": None, "sla": [], "protocol_mix": (), "ssh_insecure": False}
# Added to a copy of the page only: what the browser decoded and laid out, as JSON.
PROBE = """<script>
window.addEventListener("load", () => {
  const top = el => Math.round(el.getBoundingClientRect().top + window.scrollY);
  const h2 = text => Array.from(document.querySelectorAll("h2")).find(h => h.textContent === text);
  const imgs = Array.from(document.images);
  const ok = imgs.filter(i => i.complete && i.naturalWidth > 0);
  const h1 = document.querySelector("h1");
  const glance = h1.nextElementSibling;
  const tiles = document.querySelector(".sp-tiles");
  const settings = h2("Settings").nextElementSibling;
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = "PROBE " + JSON.stringify({
    images: {loaded: ok.length, total: imgs.length, widths: ok.map(i => i.naturalWidth)},
    afterHeading: Array.from(glance.children).map(c => c.className || c.tagName),
    verdict: glance.querySelector(".sp-verdict").textContent,
    tiles: Array.from(document.querySelectorAll(".sp-tile")).map(t => {
      const css = getComputedStyle(t);
      return {id: t.dataset.tile, state: t.dataset.state, top: top(t),
              border: css.borderTopColor, background: css.backgroundColor,
              figure: t.querySelector(".sp-tile-figure").textContent};
    }),
    tilesBottom: Math.round(tiles.getBoundingClientRect().bottom + window.scrollY),
    chartsTop: top(h2("Charts")), firstChartTop: top(document.images[0]),
    summaryTop: top(h2("Summary")),
    settings: Array.from(settings.querySelectorAll("tbody tr td:first-child"))
      .map(td => td.textContent),
  });
  document.body.appendChild(out);
});
</script>"""
RED, GREEN = "rgb(198, 40, 40)", "rgb(46, 125, 50)"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs headless Chromium: apt-get install -y chromium")


def report_page(tmp: Path, name: str, **run: Any) -> Path:
    """report.html of the synthetic run as the judge saw it (default SLA)."""
    df = synthetic_run(**run).frame()
    if not run.get("api_error", True):
        df = df[df["event"] != ev.API]  # no API: the default API check is not applicable
    basis = Basis()
    a = analyse_for(df, basis)
    page = render_report(a, df, f"test_live_stream[{name}]", judge(a, basis), SETTINGS,
                         chart_limits(basis.thresholds))
    path = tmp / f"report-{name}.html"
    path.write_text(page, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("report")
    return {"fail": report_page(tmp, "fail"),
            "pass": report_page(tmp, "pass", api_error=False, healthy=True)}


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / "chromium-profile"
    return subprocess.run(
        [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", "--window-size=1280,2000",
         *args], capture_output=True, text=True, timeout=120)


def probe(page: Path, tmp_path: Path) -> dict[str, Any]:
    copy = tmp_path / "probe.html"
    copy.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"),
                    encoding="utf-8")
    r = chromium(tmp_path, "--virtual-time-budget=5000", "--dump-dom", copy.as_uri())
    assert r.returncode == 0, r.stderr[-2000:]
    found = re.search(r'<pre id="probe">PROBE (.*?)</pre>', r.stdout, re.S)
    assert found, r.stdout[-2000:]
    return json.loads(html.unescape(found.group(1)))


@pytest.fixture(scope="module")
def seen(reports: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
         ) -> dict[str, dict[str, Any]]:
    return {k: probe(p, tmp_path_factory.mktemp(f"probe-{k}")) for k, p in reports.items()}


def test_every_chart_image_loads(seen: dict[str, dict[str, Any]]) -> None:
    images = seen["fail"]["images"]
    assert images["total"] == 7 and images["loaded"] == images["total"]
    assert set(images["widths"]) == {900}


def test_the_verdict_and_its_tiles_come_first_then_charts_then_tables(
        seen: dict[str, dict[str, Any]]) -> None:
    for word, s in (("FAIL", seen["fail"]), ("PASS", seen["pass"])):
        assert s["verdict"] == word
        assert s["afterHeading"][:2] == ["P", "sp-tiles"]
        assert [t["id"] for t in s["tiles"]] == ["media", "startup", "lagged", "bitrate",
                                                 "stalls", "errors"]
        # The six tiles sit in one row on a laptop-wide window, above the charts.
        assert len({t["top"] for t in s["tiles"]}) == 1
        assert s["tilesBottom"] < s["chartsTop"] < s["firstChartTop"] < s["summaryTop"]


def test_a_breached_tile_stands_out_in_red(seen: dict[str, dict[str, Any]]) -> None:
    tiles = {t["id"]: t for t in seen["fail"]["tiles"]}
    breached = {k for k, t in tiles.items() if t["state"] == "breached"}
    assert breached == {"lagged", "bitrate", "errors"}
    for k, t in tiles.items():
        if k in breached:
            assert t["border"] == RED and t["background"] != "rgb(255, 255, 255)"
        else:
            assert t["border"] != RED and t["background"] == "rgb(255, 255, 255)"
    assert tiles["media"]["border"] == GREEN and tiles["lagged"]["figure"] == "2"
    passed = {t["id"]: (t["state"], t["border"]) for t in seen["pass"]["tiles"]}
    assert passed["lagged"] == ("held", GREEN)
    assert passed["stalls"][0] == "none"  # no SLA check on stalls: neither green nor red
    assert RED not in {border for _, border in passed.values()}


def test_settings_left_empty_are_not_listed(seen: dict[str, dict[str, Any]]) -> None:
    assert seen["fail"]["settings"] == ["users", "percent_new", "token"]


def test_screenshots_of_a_failing_and_a_passing_report(reports: dict[str, Path],
                                                      tmp_path: Path) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for name, page in reports.items():
        shot = tmp_path / f"report-{name}-screenshot.png"
        r = chromium(tmp_path, f"--screenshot={shot}", page.as_uri())
        assert r.returncode == 0 and shot.exists(), r.stderr[-2000:]
        assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 50_000
        shutil.copy(shot, ARTIFACTS / shot.name)
        shutil.copy(page, ARTIFACTS / page.name)
        print(f"report screenshot: {ARTIFACTS / shot.name}")
