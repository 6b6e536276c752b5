"""`streamperf hosts prepare`: make load-generator hosts ready, ahead of a run.

Its host options are the run's own (settings.OPTIONS): same flags, same
checks, same environment variables, same one-line errors.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path

from streamperf.settings import SettingsError, add_options, parse_options

HOST_OPTIONS = ("ssh_hosts", "hosts_file", "ssh_key_file", "known_hosts", "ssh_insecure",
                "remote_dir")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    hosts = sub.add_parser("hosts", help="load-generator hosts over SSH")
    actions = hosts.add_subparsers(dest="action", required=True)
    prep = actions.add_parser(
        "prepare", help="check Python, install streamperf from a wheelhouse, check limits, "
        "measure the clock offset")
    prep.add_argument("specs", nargs="*",
                      help="user@host[:port] or ssh=[-p PORT] user@host//python=PATH")
    add_options(prep.add_argument, HOST_OPTIONS)
    prep.add_argument("--viewers", type=int, default=0,
                      help="viewers planned per host, for the open-files check")


def run(args: argparse.Namespace) -> int:
    from streamperf.hosts.prepare import WheelhouseError
    from streamperf.hosts.remote import LoadHosts
    from streamperf.hosts.specs import (
        DEFAULT_REMOTE_DIR,
        parse_host_spec,
        parse_host_specs,
        read_hosts_file,
    )

    try:
        opts = parse_options({f: getattr(args, f) for f in HOST_OPTIONS}, fields=HOST_OPTIONS)
        specs = [parse_host_spec(s) for s in args.specs]
        specs += parse_host_specs(opts.get("ssh_hosts", ""))
        if opts.get("hosts_file"):
            specs += read_hosts_file(Path(opts["hosts_file"]))
    except (SettingsError, ValueError, OSError) as exc:
        return _fail(str(exc))
    if not specs:
        return _fail("no hosts given (positional specs, --sshhosts or --hosts-file)")
    key, known = opts.get("ssh_key_file"), opts.get("known_hosts")
    with tempfile.TemporaryDirectory(prefix="streamperf-hosts-") as tmp:
        hosts = LoadHosts(specs, Path(tmp), key_file=Path(key) if key else None,
                          known_hosts=Path(known) if known else None,
                          insecure=bool(opts.get("ssh_insecure")),
                          remote_dir=opts.get("remote_dir", DEFAULT_REMOTE_DIR))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                results = hosts.prepare_each(args.viewers)
            except WheelhouseError as exc:
                return _fail(str(exc))
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    failed = 0
    for spec, info in zip(specs, results, strict=True):
        if isinstance(info, str):
            print(f"FAILED {spec}: {info}", file=sys.stderr)
            failed += 1
            continue
        print(f"ok {spec}: python {info.python}, streamperf {info.streamperf_version} in "
              f"{info.venv_python}, {info.cpus} cores, open files {info.nofile}/"
              f"{info.nofile_hard}, clock offset {info.clock_offset_s * 1000:+.1f} ms "
              f"(rtt {info.rtt_s * 1000:.1f} ms)")
        for note in info.warnings:
            print(f"warning: {spec}: {note}", file=sys.stderr)
    return 1 if failed else 0


def _fail(message: str) -> int:
    print(f"streamperf hosts prepare: {message}", file=sys.stderr)
    return 2
