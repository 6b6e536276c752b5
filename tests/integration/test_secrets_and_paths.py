"""Secrets stay secret and nothing is written outside its place, with the real parts:
a real run against the bundled platform served on loopback, real nginx-rtmp in an
awkward work directory, real ffmpeg/ffprobe on a file named like an option."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from streamperf.media.publisher import Publisher, probe_source
from streamperf.media.server import MediaServer, MediaServerError
from streamperf.platforms.reference.server import ReferencePlatform
from streamperf.platforms.seed.client import PlatformClient
from streamperf.redact import remember
from tests.support.nested_pytest import pytest_process, run_dirs

pytestmark = [pytest.mark.integration, pytest.mark.realtime]

# What the run is handed; none of it may appear in any artifact or in the terminal.
OAUTH_TOKEN = "planted-oauth-token-5f3a9c"
FAN_PASSWORD = "planted-fan-password-77e1"
URL_PASSWORD = "planted-url-password-0b4d"
EMAIL = "secret-keeper@e.com"


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReferencePlatform]:
    with ReferencePlatform(tmp_path_factory.mktemp("platform")) as p:
        yield p


def _hits(text: str, secrets: dict[str, str]) -> list[str]:
    return [name for name, value in secrets.items() if value in text]


@pytest.mark.own_pytest
@pytest.mark.busy_ok  # what reaches the artifacts, whatever the verdict
def test_no_secret_reaches_any_artifact_or_the_terminal(platform: ReferencePlatform,
                                                        tmp_path: Path) -> None:
    files = tmp_path / "secrets"
    files.mkdir()
    (files / "token").write_text(OAUTH_TOKEN + "\n")
    (files / "streams").write_text(platform.streams_token + "\n")
    api = f"http://robot:{URL_PASSWORD}@127.0.0.1:{platform.port}"
    reports = tmp_path / "reports"
    tmp = tmp_path / "tmp"  # the session's work directory goes here (TMPDIR)
    tmp.mkdir()
    argv: set[str] = set()  # the command lines of what the run started, while it goes
    with pytest_process("tests/perf", "--report-dir", reports, "-k", "steady_audience",
                        "--users", "3", "--ramp", "100ms", "--duration", "5s",
                        "--calibration", "0", "--apiurl", api, "--email", EMAIL,
                        "--token-file", files / "token", "--streamsapitoken-file",
                        files / "streams", "--fan-password", FAN_PASSWORD, "--precreatefans",
                        env={"TMPDIR": str(tmp)}) as proc:
        run = psutil.Process(proc.pid)  # its own argv is the test's choice: not looked at
        while proc.poll() is None:
            try:
                for child in run.children(recursive=True):
                    argv.add(" ".join(child.cmdline()))
            except psutil.Error:  # a child gone meanwhile, or the run itself
                pass
            time.sleep(0.2)
        out, _ = proc.communicate()
    r = subprocess.CompletedProcess(proc.args, proc.returncode, out, "")
    summary = json.loads(next(iter(run_dirs(reports))).joinpath("summary.json").read_text())
    # It passes, or a busy machine made it invalid: never a failure, never a usage error.
    assert r.returncode == 0 or (r.returncode == 1 and summary["verdict"]["word"] == "INVALID"), (
        r.stdout[-3000:])
    assert platform.store is not None
    inf = platform.store.influencer_by_username("secret_keeper")
    assert inf is not None, "the run never signed the influencer in"
    secrets = {"oauth token": OAUTH_TOKEN, "fan password": FAN_PASSWORD,
               "URL password": URL_PASSWORD, "streams API key": platform.streams_token,
               "stream key": inf["stream_key"], "influencer session": inf["token"]}
    artifacts = [p for d in run_dirs(reports) for p in d.rglob("*") if p.is_file()]
    names = {p.name for p in artifacts}
    assert {"events.csv", "summary.json", "report.html"} <= names, names
    events = next(p for p in artifacts if p.name == "events.csv").read_text()
    assert "publish_start" in events and ",play," in events  # it went live and fans played
    found = {str(p): _hits(p.read_text(errors="replace"), secrets) for p in artifacts}
    assert {p: h for p, h in found.items() if h} == {}
    assert _hits(r.stdout + r.stderr, secrets) == []
    # No command line held one, but the stream key in ffmpeg's ingest URL (reliability.md
    # documents it: any local user's `ps` shows it)
    assert _hits("\n".join(argv), {k: v for k, v in secrets.items() if k != "stream key"}) == []
    assert any("ffmpeg" in a for a in argv)  # the publisher ran while it was looked at
    # and the session's work directory (the raw publisher.log) is gone
    assert [p.name for p in tmp.iterdir() if p.name.startswith("streamperf-")] == []
    # the checks can fail: the secrets were really in play
    assert "?key=" in PlatformClient(platform.base_url).influencer_sign_in(
        EMAIL, OAUTH_TOKEN).servers_status["ingest_url"]


def test_awkward_paths_stay_paths(clip: Path, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A work dir with a space, `;`, `{` and `#` neither breaks nor adds to nginx's
    config; a video named `-x.flv` (or `http:x.flv`) is a file to ffprobe and ffmpeg;
    ffmpeg's log, which names the ingest URL, reaches the run directory masked."""
    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("-x.flv", "http:x.flv"):
        shutil.copy(clip, videos / name)
    monkeypatch.chdir(videos)
    assert probe_source(Path("-x.flv")).duration_s > 1
    assert probe_source(Path("http:x.flv")).duration_s > 1

    work = tmp_path / "work dir; error_log /tmp/owned {x} #y"
    with MediaServer(work) as media:
        assert media.conf_path.is_file() and (work / "logs").is_dir()
        key = "planted-stream-key-c0ffee"
        remember(key)
        pub = Publisher(Path("-x.flv"), f"{media.ingest_url('awkward')}?key={key}",
                        tmp_path / "pub")
        try:
            pub.start(timeout=10, ready=lambda: media.is_publishing("awkward"))
            assert key in pub.log_path.read_text()  # ffmpeg prints where it publishes
            pub.copy_log(tmp_path / "publisher.log")
        finally:
            pub.stop()
        assert key not in (tmp_path / "publisher.log").read_text()
        assert key not in pub.log_tail(50)
    assert not Path("/tmp/owned").exists()
    with pytest.raises(MediaServerError, match=r"holds '\$'"):
        MediaServer(tmp_path / "a$(touch x)b").start()
