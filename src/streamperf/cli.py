"""`streamperf` command: platform serve, doctor, summary of a run directory."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from streamperf import __version__

TOOLS = {
    "ffmpeg": "publisher (Debian package ffmpeg)",
    "ffprobe": "source probing (Debian package ffmpeg)",
    "nginx": "bundled media server (Debian packages nginx libnginx-mod-rtmp)",
    "rtmpdump": "benchmark comparison only (Debian package rtmpdump)",
}


def doctor() -> int:
    """Say what is missing for a local run, one line each."""
    from streamperf.media.server import MediaServerError, find_rtmp_module

    bad = 0
    for tool, why in TOOLS.items():
        path = shutil.which(tool)
        print(f"{'ok     ' if path else 'MISSING'} {tool:<9} {path or why}")
        bad += path is None and tool != "rtmpdump"
    try:
        print(f"ok      {'nginx-rtmp':<9} {find_rtmp_module()}")
    except MediaServerError as exc:
        print(f"MISSING {'nginx-rtmp':<9} {exc}")
        bad += 1
    return 1 if bad else 0


def summary(run: Path, lag_threshold_s: float) -> int:
    from streamperf.results.analysis import analyse
    from streamperf.results.events import read_events
    from streamperf.results.terminal import summary_table
    from streamperf.results.verdict import evaluate

    path = run / "events.csv" if run.is_dir() else run
    if not path.is_file():
        print(f"streamperf: no event log at {path}", file=sys.stderr)
        return 2
    analysis = analyse(read_events(path), lag_threshold_s)
    print(summary_table(str(run), analysis, evaluate(analysis)))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="streamperf", description=__doc__)
    parser.add_argument("--version", action="version", version=f"streamperf {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    plat = sub.add_parser("platform", help="the bundled reference platform")
    plat_sub = plat.add_subparsers(dest="action", required=True)
    plat_sub.add_parser("serve", help="run it in the foreground", add_help=False)
    sub.add_parser("doctor", help="check the tools a local run needs")
    summ = sub.add_parser("summary", help="print the summary table of a run")
    summ.add_argument("run", type=Path, help="run directory or events.csv")
    summ.add_argument("--lag-threshold", type=float, default=3.0)

    args, rest = parser.parse_known_args(argv)
    if args.command == "platform":
        from streamperf.platform.reference import serve

        return serve(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "doctor":
        return doctor()
    return summary(args.run, args.lag_threshold)


if __name__ == "__main__":
    sys.exit(main())
