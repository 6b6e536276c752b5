"""`streamperf hosts prepare`: make load-generator hosts ready, ahead of a run."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from streamperf.hosts.specs import DEFAULT_REMOTE_DIR


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    hosts = sub.add_parser("hosts", help="load-generator hosts over SSH")
    actions = hosts.add_subparsers(dest="action", required=True)
    prep = actions.add_parser(
        "prepare", help="check Python, install streamperf from a wheelhouse, check limits, "
        "measure the clock offset")
    prep.add_argument("specs", nargs="*",
                      help="user@host[:port] or ssh=[-p PORT] user@host//python=PATH")
    prep.add_argument("--sshhosts", default="", help="space-separated user@host (as the seed)")
    prep.add_argument("--hosts-file", type=Path, default=None, help="one host spec per line")
    prep.add_argument("--sshkeyfile", type=Path, default=None, help="private key to log in with")
    prep.add_argument("--known-hosts", type=Path, default=None,
                      help="known_hosts to verify host keys against (default ~/.ssh/known_hosts)")
    prep.add_argument("--ssh-insecure", action="store_true",
                      help="do not verify host keys (warned about; for throwaway hosts only)")
    prep.add_argument("--viewers", type=int, default=0,
                      help="viewers planned per host, for the open-files check")
    prep.add_argument("--remote-dir", default=DEFAULT_REMOTE_DIR,
                      help="directory on the hosts for the venv, wheels and logs, as a run's "
                      "--remote-dir (default ~/.streamperf; {host} becomes the host's address)")


def run(args: argparse.Namespace) -> int:
    import tempfile

    from streamperf.hosts.prepare import WheelhouseError
    from streamperf.hosts.remote import LoadHosts
    from streamperf.hosts.specs import parse_host_spec, parse_host_specs, read_hosts_file

    try:
        specs = [parse_host_spec(s) for s in args.specs] + parse_host_specs(args.sshhosts)
        if args.hosts_file:
            specs += read_hosts_file(args.hosts_file)
    except (ValueError, OSError) as exc:
        return _fail(str(exc))
    if not specs:
        return _fail("no hosts given (positional specs, --sshhosts or --hosts-file)")
    with tempfile.TemporaryDirectory(prefix="streamperf-hosts-") as tmp:
        hosts = LoadHosts(specs, Path(tmp), key_file=args.sshkeyfile,
                          known_hosts=args.known_hosts, insecure=args.ssh_insecure,
                          remote_dir=args.remote_dir)
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
