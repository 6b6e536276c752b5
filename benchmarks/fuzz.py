"""Fuzz every parser for longer than CI does: the properties of
tests/support/fuzz_properties.py (any input -> a result or the parser's documented
error, never another exception, bounded time) with a large example count.

    .venv/bin/python benchmarks/fuzz.py --examples 100000
    .venv/bin/python benchmarks/fuzz.py --examples 5000 --parser sla --parser m3u8

Prints, per parser, how many inputs it tried, how long that took and the
first failure (hypothesis shrinks it to a small input and prints the call);
exits 1 if any parser failed.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from hypothesis import given, settings  # noqa: E402  (after the path set-up above)
from hypothesis import strategies as st  # noqa: E402
from tests.support.fuzz_properties import PROPERTIES, Property  # noqa: E402


def fuzz(prop: Property, examples: int) -> tuple[int, float, str]:
    """(inputs tried, seconds, first failure or "")."""
    tried = 0

    @settings(settings.get_profile("fuzz"), max_examples=examples, database=None)
    @given(st.data())
    def check(data: st.DataObject) -> None:
        nonlocal tried
        tried += 1
        prop.run(data.draw(prop.strategy, label=prop.name))

    start = time.monotonic()
    failure = ""
    try:
        check()
    except Exception:  # the property's failure, shrunk by hypothesis: report, go on
        failure = traceback.format_exc(limit=-3)
    return tried, time.monotonic() - start, failure


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--examples", type=int, default=100_000, help="inputs per parser")
    p.add_argument("--parser", action="append", choices=sorted(PROPERTIES),
                   help="only this parser (repeatable; default: all)")
    args = p.parse_args()
    failed = 0
    total = 0
    print(f"{'parser':<12} {'inputs':>9} {'seconds':>8} {'inputs/s':>9}  result")
    for name in args.parser or sorted(PROPERTIES):
        tried, took, failure = fuzz(PROPERTIES[name], args.examples)
        total += tried
        failed += bool(failure)
        print(f"{name:<12} {tried:>9} {took:>8.1f} {tried / max(took, 1e-9):>9.0f}  "
              f"{'FAIL' if failure else 'ok'}", flush=True)
        if failure:
            print("\n".join("    " + line for line in failure.splitlines()), flush=True)
    print(f"{'total':<12} {total:>9}  {failed} parser(s) failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
