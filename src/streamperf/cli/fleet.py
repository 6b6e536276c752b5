"""`streamperf fleet up|status|down`: load-generator instances on EC2.

Settings come from `[tool.streamperf.fleet]` in ./pyproject.toml, then the
flags (fleet/config.py). Credentials come from boto3's standard chain and
are never printed; AWS_ENDPOINT_URL is honoured.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from streamperf.option_values import fleet_ref, is_fleet_id

# Flags of `up` that map one to one onto fleet settings (fleet/config.py FLEET_KEYS).
UP_FLAGS = ("count", "instance_type", "region", "image_id", "key_name", "security_group",
            "subnet", "idle_shutdown", "max_instances", "wait", "ssh_user", "address")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from streamperf.fleet.config import KEY_BY_FIELD

    fleet = sub.add_parser("fleet", help="load-generator fleets on EC2 (boto3)")
    actions = fleet.add_subparsers(dest="action", required=True)
    up = actions.add_parser("up", help="start a fleet, wait until it answers, write its "
                            "hosts file")
    for name in UP_FLAGS:
        up.add_argument("--" + name.replace("_", "-"), dest=name, default=None,
                        help=KEY_BY_FIELD[name].help)
    up.add_argument("--yes", action="store_true", help="start more than --max-instances")
    for name, text in (("status", "list a fleet's instances, their age and cost so far"),
                       ("down", "terminate a fleet (only instances with streamperf's tag)")):
        p = actions.add_parser(name, help=text)
        p.add_argument("--region", default=None, help=KEY_BY_FIELD["region"].help)
    for p in (up, *[actions.choices[n] for n in ("status", "down")]):
        p.add_argument("--report-dir", type=Path, default=Path("reports"),
                       help="where fleet-<id>/ (hosts, known_hosts, fleet.json) goes")
    actions.choices["status"].add_argument("--fleet", default=None,
                                           help="fleet id (default: every streamperf fleet)")
    down = actions.choices["down"]
    which = down.add_mutually_exclusive_group()
    which.add_argument("--fleet", default=None, help="the fleet id to end (spf-xxxxxxxx)")
    which.add_argument("--all", action="store_true", dest="all_mine",
                       help="every fleet you started in the region (its owner tag is you), "
                       "after asking; never another owner's")
    down.add_argument("--yes", action="store_true", help="with --all: do not ask (scripts)")


def run(args: argparse.Namespace) -> int:
    from streamperf.fleet.config import FleetError, load_fleet_config
    from streamperf.fleet.lifecycle import FleetControl

    flags = {n: getattr(args, n, None) for n in UP_FLAGS if getattr(args, n, None) is not None}
    try:
        fleet_id = ""
        if getattr(args, "fleet", None):
            fleet_id = fleet_ref(args.fleet)
            if not is_fleet_id(fleet_id):
                raise FleetError(f"--fleet {args.fleet}: expected a fleet id (spf-xxxxxxxx)")
        config = load_fleet_config(Path("pyproject.toml"), flags)
        control = FleetControl(config, args.report_dir, say=_say)
        if args.action == "up":
            return _up(control, args.yes)
        if args.action == "status":
            return _status(control, fleet_id)
        return _down(control, fleet_id, args.all_mine, args.yes)
    except (FleetError, ValueError) as exc:
        return _fail(args.action, str(exc).splitlines()[0])
    except KeyboardInterrupt:
        return _fail(args.action, "interrupted (whatever `up` had started is terminated)")


def _up(control: Any, yes: bool) -> int:
    from streamperf.fleet.lifecycle import new_fleet_id

    fleet = control.up(new_fleet_id(), yes=yes)
    print(f"fleet {fleet.fleet_id}: {len(fleet.instances)} × {fleet.instance_type} in "
          f"{fleet.region}, idle shutdown after {control.config.idle_shutdown:g} s")
    for inst, spec in zip(fleet.instances, fleet.specs, strict=True):
        print(f"  {inst.id}  {inst.state:<8} {spec}")
    keys = "" if fleet.keys_verified else " (host keys NOT verified: --wait running)"
    print(f"hosts file: {fleet.files.hosts}\nknown_hosts: {fleet.files.known_hosts}{keys}")
    print(f"run: pytest tests/perf --fleet {fleet.fleet_id} --keep-fleet   or   pytest "
          f"tests/perf --hosts-file {fleet.files.hosts} --known-hosts {fleet.files.known_hosts}")
    print(f"end: streamperf fleet down --fleet {fleet.fleet_id} --region {fleet.region}")
    return 0


def _status(control: Any, fleet_id: str) -> int:
    from streamperf.fleet.hosts_file import cost_usd
    from streamperf.fleet.pricing import hourly_price

    instances = control.status(fleet_id)
    now = datetime.now(UTC)
    if not instances:
        print(f"no streamperf fleet instances{f' in fleet {fleet_id}' if fleet_id else ''} "
              f"in {control.region}")
        return 0
    print(f"{'fleet':<13} {'instance':<20} {'state':<13} {'address':<16} {'age':>8} type")
    for i in instances:
        print(f"{i.fleet_id:<13} {i.id:<20} {i.state:<13} {i.address() or '-':<16} "
              f"{_age(i.age_s(now)):>8} {i.instance_type}")
    for fid in sorted({i.fleet_id for i in instances}):
        mine = [i for i in instances if i.fleet_id == fid]
        cost = cost_usd(mine, now)
        prices = {i.instance_type: hourly_price(i.instance_type) for i in mine}
        per_hour = (None if None in prices.values()
                    else sum(prices[i.instance_type] or 0.0 for i in mine))
        money = ("cost unknown (instance type not in streamperf's price table)" if cost is None
                 else f"${cost:.2f} so far, ${per_hour:.2f}/h at us-east-1 on-demand prices")
        print(f"fleet {fid}: {len(mine)} instance(s), {money}")
    return 0


def _down(control: Any, fleet_id: str, all_mine: bool, yes: bool) -> int:
    from streamperf.fleet.config import FleetError

    if not fleet_id and not all_mine:
        raise FleetError("name the fleet to end: --fleet ID (`streamperf fleet status` lists "
                         "them), or --all for every fleet you started in the region")
    if all_mine and not yes:
        mine = control.mine()
        fleets = sorted({i.fleet_id for i in mine})
        if not mine:
            print(f"your fleets in {control.region}: nothing running")
            return 0
        if not sys.stdin.isatty():
            raise FleetError(f"--all would end {len(mine)} instance(s) of {', '.join(fleets)}: "
                             "add --yes to do it without asking")
        answer = input(f"end {len(mine)} instance(s) of your fleets {', '.join(fleets)} in "
                       f"{control.region}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing ended")
            return 1
    gone = control.down(fleet_id, all_mine=all_mine)
    what = f"fleet {fleet_id}" if fleet_id else "your fleets"
    if not gone:
        print(f"{what} in {control.region}: nothing running")
        return 0
    for i in gone:
        print(f"terminating {i.id} ({i.fleet_id}, {i.instance_type})")
    print(f"{what} in {control.region}: {len(gone)} instance(s) terminating")
    return 0


def _age(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _fail(action: str, message: str) -> int:
    print(f"streamperf fleet {action}: {message}", file=sys.stderr)
    return 2
