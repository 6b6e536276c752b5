"""What pytest prints of streamperf's objects holds no secret (issue 24, item 5):
assertion rewriting, `--showlocals`, JUnit XML and pytest-html's longrepr all show
reprs. A failing test of pytester's, holding the settings, a GoLive and an
influencer with secrets in its locals, run with `--showlocals --junitxml`."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

SECRETS = ("oauth-tok-6180339", "streams-key-1414213", "fan-pw-2718281", "STREAMKEY31415",
           "urlpass-1732050")

# The secrets are put together where they are used: the test's own source lines and
# plain locals are in its report too, and must not be what is found.
TEST = '''
from streamperf.platforms.adapter import GoLive
from streamperf.platforms.seed.client import Influencer
from streamperf.settings import RunSettings


def j(*parts):
    return "-".join(parts)


def test_fails():
    settings = RunSettings(token=j("oauth", "tok", "6180339"),
                           streams_api_token=j("streams", "key", "1414213"),
                           fan_password=j("fan", "pw", "2718281"),
                           api_url="https://robot:" + j("urlpass", "1732050") + "@api.example/")
    live = GoLive("rtmp://127.0.0.1:1935/live/" + "STREAMKEY" + "31415")
    inf = Influencer(1, "i@e.com", "inf", j("oauth", "tok", "6180339"),
                     {"ingest_url": "rtmp://h/live/inf_source?key=" + "STREAMKEY" + "31415"})
    assert (settings, live, inf) is None
'''


def test_reprs_in_a_failing_tests_report_hold_no_secret(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_it=TEST)
    result = pytester.runpytest_inprocess("--showlocals", "--junitxml=junit.xml", "-p",
                                          "no:streamperf", "-p", "no:randomly")
    result.assert_outcomes(failed=1)
    text = result.stdout.str() + (pytester.path / "junit.xml").read_text()
    assert "RunSettings(" in text and "GoLive(" in text and "Influencer(" in text
    leaked = [s for s in SECRETS if s in text]
    assert not leaked, leaked
    assert "***" in text
