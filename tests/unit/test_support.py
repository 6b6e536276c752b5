"""tests/support holds the helpers the test files share, and says what each one is for."""

from __future__ import annotations

import re
from pathlib import Path

import tests.support

TESTS = Path(__file__).resolve().parents[1]
SUPPORT = TESTS / "support"


def test_the_package_docstring_names_every_module_and_no_other() -> None:
    listed = set(re.findall(r"^  (\w+) ", tests.support.__doc__ or "", re.MULTILINE))
    modules = {p.stem for p in SUPPORT.glob("*.py") if p.name != "__init__.py"}
    assert listed == modules


def test_test_directories_hold_tests_and_conftests_only() -> None:
    # A helper beside the tests is the start of a second copy: it belongs in tests/support.
    stray = [str(p.relative_to(TESTS)) for d in ("unit", "integration", "perf")
             for p in (TESTS / d).glob("*.py")
             if not p.name.startswith("test_") and p.name not in ("conftest.py", "__init__.py")]
    assert stray == []
