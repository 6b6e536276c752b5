"""Numbers for people: one way, wherever a figure is shown."""

from __future__ import annotations

import numpy as np
import pytest

from streamperf.results.formatting import column, compact, figure, with_unit


@pytest.mark.parametrize(("value", "key", "text"), [
    (None, "startup_p95_s", "–"), (1.23456, "startup_p95_s", "1.23 s"),
    (1104.4, "mean_kbps", "1,104 kbps"), (0.0125, "api_error_rate", "1.25%"),
    (7, "stalls", "7"), ({"disconnect": 2}, "errors_by_kind", "disconnect: 2"),
    (float("nan"), "x", "–"), (True, "got_media", "yes"),
    (1795832863.4, "start_t", "2026-11-28 02:27:43 UTC"),
])
def test_figure(value, key, text):
    assert figure(value, key) == text


def test_numpy_scalars_read_as_python_numbers():
    assert figure(np.float64(2.5), "max_drift_s") == "2.50 s"
    assert figure(np.int64(1234), "api_calls") == "1,234"


@pytest.mark.parametrize(("value", "text"), [
    (0.875, "0.875"), (5.0041, "5.004"), (17.123, "17.12"), (1234.4, "1234"), (3.0, "3"),
])
def test_compact(value, text):
    assert compact(value) == text


def test_with_unit_and_column():
    assert (with_unit(5, "s"), with_unit(12.5, "%"), with_unit(0.9, "")) == ("5 s", "12.5%", "0.9")
    assert column(None, "6.1f") == "     -" and column(3.14159, "6.1f") == "   3.1"
