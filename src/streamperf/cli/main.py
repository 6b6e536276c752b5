"""`streamperf` command: platform serve, doctor, summary, report and live view of a run,
load hosts (hosts prepare) and EC2 fleets (fleet up|status|down)."""

from __future__ import annotations

import argparse
import sys

from streamperf import __version__
from streamperf.cli import doctor, fleet, hosts, live, platform, report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="streamperf", description=__doc__)
    parser.add_argument("--version", action="version", version=f"streamperf {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    platform.add_parser(sub)
    doctor.add_parser(sub)
    report.add_parsers(sub)
    live.add_parser(sub)
    hosts.add_parser(sub)
    fleet.add_parser(sub)

    args, rest = parser.parse_known_args(argv)
    if args.command == "platform":
        return platform.run(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    commands = {"doctor": doctor.run, "hosts": hosts.run, "fleet": fleet.run,
                "live": live.run, "summary": report.run, "report": report.run}
    return commands[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
