"""`streamperf platform serve`: the bundled reference platform in the foreground."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    plat = sub.add_parser("platform", help="the bundled reference platform")
    actions = plat.add_subparsers(dest="action", required=True)
    # Its own options are parsed by serve() itself (platforms/reference/server.py).
    actions.add_parser("serve", help="run it in the foreground", add_help=False)


def run(rest: list[str]) -> int:
    from streamperf.platforms.reference.server import serve

    return serve(rest)
