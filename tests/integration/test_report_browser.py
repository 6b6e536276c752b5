"""The HTML report opened in headless Chromium: every chart image loads.

Needs the Debian package `chromium` (/usr/bin/chromium). The screenshot is kept
as an artifact: reports/artifacts/report-screenshot.png under the repository.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from streamperf.results.analysis import analyse
from streamperf.results.html import render_report
from streamperf.results.judge import Verdict
from streamperf.results.verdict import Breach

from ..unit.report_logs import synthetic_run

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "reports" / "artifacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# Added to a copy of the page only: counts images that really decoded.
PROBE = """<script>
window.addEventListener("load", () => {
  const imgs = Array.from(document.images);
  const ok = imgs.filter(i => i.complete && i.naturalWidth > 0);
  const out = document.createElement("pre");
  out.id = "image-probe";
  out.textContent = `IMAGES loaded=${ok.length} total=${imgs.length} widths=` +
    ok.map(i => i.naturalWidth).join(",");
  document.body.appendChild(out);
});
</script>"""

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs headless Chromium: apt-get install -y chromium")


@pytest.fixture(scope="module")
def report_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    df = synthetic_run().frame()
    a = analyse(df, lag_threshold_s=3.0)
    failed = Verdict("FAIL", (Breach("max(lagged) <= 0", "2 viewers", "<= 0", "fan1, fan2"),))
    page = render_report(a, df, "test_live_stream[synthetic]", failed,
                         {"users": 12, "token": "***"}, {"startup_s": 1.0, "lagged": 0})
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / "chromium-profile"
    return subprocess.run(
        [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=120)


def test_every_chart_image_loads(report_file: Path, tmp_path: Path) -> None:
    probe = tmp_path / "probe.html"
    probe.write_text(report_file.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"),
                     encoding="utf-8")
    r = chromium(tmp_path, "--virtual-time-budget=5000", "--dump-dom", probe.as_uri())
    assert r.returncode == 0, r.stderr[-2000:]
    found = re.search(r"IMAGES loaded=(\d+) total=(\d+) widths=([\d,]*)", r.stdout)
    assert found, r.stdout[-2000:]
    loaded, total = int(found.group(1)), int(found.group(2))
    assert total == 7 and loaded == total
    assert set(found.group(3).split(",")) == {"900"}


def test_screenshot_of_the_report(report_file: Path, tmp_path: Path) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = tmp_path / "report-screenshot.png"
    r = chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,4000",
                 report_file.as_uri())
    assert r.returncode == 0 and shot.exists(), r.stderr[-2000:]
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 50_000
    kept = ARTIFACTS / "report-screenshot.png"
    shutil.copy(shot, kept)
    shutil.copy(report_file, ARTIFACTS / "report.html")
    print(f"report screenshot: {kept}")
