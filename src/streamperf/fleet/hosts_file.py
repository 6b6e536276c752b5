"""A fleet's files on the controller: the hosts file `--hosts-file` reads, the
known_hosts its keys were verified into, and fleet.json (what was started when).

They live in `<report-dir>/fleet-<id>/`, beside the runs that used the fleet.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from streamperf.fleet.ec2 import FleetInstance
from streamperf.fleet.pricing import hourly_price
from streamperf.hosts.specs import HostSpec, parse_host_spec


@dataclass(frozen=True)
class FleetFiles:
    dir: Path

    @classmethod
    def of(cls, report_dir: Path, fleet_id: str) -> FleetFiles:
        return cls(report_dir / f"fleet-{fleet_id}")

    @property
    def hosts(self) -> Path:
        return self.dir / "hosts"

    @property
    def known_hosts(self) -> Path:
        return self.dir / "known_hosts"

    @property
    def record(self) -> Path:
        return self.dir / "fleet.json"


def host_specs(addresses: Sequence[str], user: str) -> list[HostSpec]:
    """One seed-style spec per address, parsed as `--hosts-file` will parse it."""
    return [parse_host_spec(f"{user}@{a}" if ":" not in a else f"{user}@[{a}]:22")
            for a in addresses]


def write_hosts_file(path: Path, specs: Sequence[HostSpec], header: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"# {line}" for line in header.splitlines()] + [str(s) for s in specs]
    path.write_text("\n".join(lines) + "\n")


def instance_hours(instances: Sequence[FleetInstance], until: datetime | None = None) -> float:
    """Hours the instances have been up, summed (to `until`, default now)."""
    now = until or datetime.now(UTC)
    return sum(i.age_s(now) for i in instances) / 3600.0


def cost_usd(instances: Sequence[FleetInstance], until: datetime | None = None) -> float | None:
    """On-demand cost so far; None when a type's price is not known."""
    total = 0.0
    now = until or datetime.now(UTC)
    for i in instances:
        price = hourly_price(i.instance_type)
        if price is None:
            return None
        total += price * i.age_s(now) / 3600.0
    return total


def fleet_record(fleet_id: str, region: str, instance_type: str,
                 instances: Sequence[FleetInstance], until: datetime | None = None,
                 ) -> dict[str, Any]:
    """What summary.json and fleet.json say about a fleet."""
    cost = cost_usd(instances, until)
    return {
        "fleet_id": fleet_id,
        "region": region,
        "instance_type": instance_type,
        "instances": [i.id for i in instances],
        "instance_hours": round(instance_hours(instances, until), 4),
        "cost_usd_on_demand": None if cost is None else round(cost, 4),
    }


def write_record(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
