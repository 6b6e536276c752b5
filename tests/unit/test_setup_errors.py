"""A failed set-up is one line per session, with the exception chain kept in a log.

pytester runs pytest in-process with the streamperf plugin (loaded from its
entry point); the platform URL points at a closed loopback port, so the
influencer's sign-in fails with "connection refused" before anything starts.
"""

from __future__ import annotations

import pandas  # noqa: F401 - loaded before pytester's module snapshot: numpy loads once
import pytest

pytest_plugins = ["pytester"]

TESTS = """
import pytest

@pytest.mark.parametrize("n", [1, 2, 3])
def test_watch(n, stream):
    pass
"""


def test_unreachable_platform_is_one_line_once(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(TESTS)
    result = pytester.runpytest("--apiurl", "http://127.0.0.1:1", "--report-dir", "reports",
                                "-p", "no:cacheprovider")
    result.assert_outcomes(errors=3)
    out = result.stdout.str()
    assert "During handling" not in out and "Traceback" not in out
    assert "direct cause" not in out
    cause = "POST http://127.0.0.1:1/api/v1/influencers/instagram_sign_in_or_up: connection refused"
    lines = [line for line in out.splitlines() if line.startswith("streamperf set-up failed:")]
    assert len(lines) == 3, out
    assert lines[0].startswith(f"streamperf set-up failed: {cause} (details: reports/")
    # The same cause is not printed again: the later tests point back to the first.
    first = "test_unreachable_platform_is_one_line_once.py::test_watch[1]"
    assert lines[1:] == [f"streamperf set-up failed: same cause as {first} (above)"] * 2
    # The whole chain is in the log the line names, and only there.
    log = pytester.path / lines[0].split("(details: ")[1].rstrip(")")
    chain = log.read_text()
    assert "ApiUnreachable" in chain and "ConnectionRefusedError" in chain
    assert not (pytester.path / "reports" / "latest").exists()  # no run happened


def test_each_different_cause_is_shown(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest

        def test_platform(stream):
            pass

        def test_mine(streamperf_session):
            pytest.fail("streamperf set-up failed: something else", pytrace=False)
    """)
    result = pytester.runpytest("--apiurl", "http://127.0.0.1:1", "--report-dir", "reports",
                                "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1, failed=1)
    out = result.stdout.str()
    assert "connection refused (details:" in out
    assert "streamperf set-up failed: something else" in out  # a call failure is not folded
