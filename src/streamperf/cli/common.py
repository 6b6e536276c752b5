"""What every subcommand shares: the one-line error and its exit status."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from streamperf.settings import parse_options

#: a subcommand's exit status for bad input (a file it cannot read, a bad option)
BAD_INPUT = 2


def fail(message: str) -> int:
    """`streamperf: MESSAGE` on stderr; the status to exit with."""
    print(f"streamperf: {message}", file=sys.stderr)
    return BAD_INPUT


def run_options(args: argparse.Namespace, fields: tuple[str, ...]) -> dict[str, Any]:
    """A subcommand's run options parsed as the run parses them, without the environment
    (a value re-judges or redraws only when given); SettingsError (one line) if bad."""
    return parse_options({f: getattr(args, f) for f in fields}, environ={}, fields=fields)
