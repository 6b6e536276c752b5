"""What every subcommand shares: the one-line error and its exit status."""

from __future__ import annotations

import sys

#: a subcommand's exit status for bad input (a file it cannot read, a bad option)
BAD_INPUT = 2


def fail(message: str) -> int:
    """`streamperf: MESSAGE` on stderr; the status to exit with."""
    print(f"streamperf: {message}", file=sys.stderr)
    return BAD_INPUT
