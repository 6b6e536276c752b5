"""Bad options are pytest usage errors: exit 4, one line, no traceback."""

from __future__ import annotations

import subprocess

import pytest

from tests.support import nested_pytest


def run_pytest(*args: str, tmp_path) -> subprocess.CompletedProcess[str]:
    """A pytest of a project in tmp_path holding one empty test."""
    (tmp_path / "test_x.py").write_text("def test_x():\n    pass\n")
    return nested_pytest.run_pytest("-q", tmp_path, *args, cwd=tmp_path, timeout=60)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--users", "-1"), "--users -1: -1 is out of range"),
        (("--users", "abc"), "--users abc: not an integer"),
        (("--percentnew", "150"), "--percentnew 150: 150 is out of range"),
        (("--ramp", "soon"), "--ramp soon: not a duration"),
        (("--sshhosts", "root@h:0"), "--sshhosts root@h:0: bad port '0'"),
        (("--procs", "2", "--sshhosts", "127.0.0.2"), "--procs runs viewers on this machine"),
        (("--sshkeyfile", "/nonexistent/key"), "--sshkeyfile /nonexistent/key: no such file"),
        (("--apiurl", "not-a-url"), "--apiurl not-a-url: use an http:// or https:// URL"),
        (("--streamsapiurl", "ftp://h/x"), "--streamsapiurl ftp://h/x: use an http:// or"),
        (("--keep-fleet",), "--keep-fleet needs --fleet"),
        (("--fleet", "2", "-n", "2"), "--fleet does not go with -n"),
        # issue 13: huge figures and an SLA number beyond a float, refused before any load
        (("--users", "99999999999999999999"), "--users 99999999999999999999: 9999"),
        (("--duration", "9" * 400), "(400 characters): longer than 7 days"),
        (("--sla", "p95(startup_s) > 1e999"), "number '1e999' is out of range"),
        (("--lag-threshold", "nan"), "--lag-threshold nan: not a duration"),
        # a typo in a CI gate's threshold stops it before any load
        (("--sla", "p95(startup_x) < 3"), "unknown metric 'startup_x'"),
        (("--sla", "p95(startup_s) <<< 3"), "p95(startup_s) <<< 3"),
        (("--sla", "median(startup_s) < 3"), "unknown function 'median'"),
        (("--baseline-tolerance", "lots"), "lots"),
    ],
)
def test_bad_option_is_usage_error(args, expected, tmp_path):
    proc = run_pytest(*args, tmp_path=tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 4, out
    assert expected in out
    assert "Traceback" not in out
    assert len([line for line in out.splitlines() if line.strip()]) == 1, out


def test_bad_fleet_settings_in_pyproject_are_a_usage_error_before_any_instance(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.streamperf.fleet]\nimage_id = "fedora"\n')
    proc = run_pytest("--fleet", "2", tmp_path=tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 4, out
    assert "image_id = 'fedora': expected an id starting with ami-" in out
    assert len([line for line in out.splitlines() if line.strip()]) == 1, out


def test_a_typo_in_a_marker_is_a_usage_error(tmp_path):
    (tmp_path / "test_marked.py").write_text(
        "import pytest\n\n@pytest.mark.sla('p95(latency_x) < 3')\n"
        "def test_x(viewers):\n    pass\n")
    proc = run_pytest(tmp_path=tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 4, out
    assert "test_marked.py::test_x: SLA 'p95(latency_x) < 3': unknown metric" in out
    assert "Traceback" not in out


def test_good_options_run_the_tests(tmp_path):
    proc = run_pytest("--users", "5", "--ramp", "200ms", tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout


def test_secret_token_is_not_echoed(tmp_path):
    proc = run_pytest("--token", "s3cr3t-value", "--users", "0", tmp_path=tmp_path)
    assert proc.returncode == 4
    assert "s3cr3t-value" not in proc.stdout + proc.stderr


def test_help_lists_every_option():
    from streamperf.settings import OPTIONS

    proc = nested_pytest.run_pytest("--help", timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for opt in OPTIONS:
        assert opt.flag in proc.stdout, opt.flag
    assert "20% (default)" in proc.stdout  # a literal % in a help text, not a format


def test_bad_url_from_the_environment_is_usage_error(tmp_path, monkeypatch):
    monkeypatch.setenv("STREAMPERF_APIURL", "api.example.com")
    proc = run_pytest(tmp_path=tmp_path)
    assert proc.returncode == 4
    assert "--apiurl api.example.com: use an http:// or https:// URL" in proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
