"""What an instance type costs and how many viewers it carries.

Prices are Linux on-demand in us-east-1 (USD per hour, as published by AWS
in 2024; other regions cost up to ~30% more; check the EC2 pricing page).
Network is the instance's *baseline* bandwidth (the "up to" figure is a
burst that runs out after minutes), from AWS's instance-type documentation.

Viewer capacity is the smaller of two budgets:
- network: 80% of the baseline, divided by the stream's bitrate (every viewer
  receives the whole stream);
- CPU: VIEWERS_PER_VCPU per vCPU. A native RTMP viewer costs ~0.014% of a
  core at steady state (README, "Cost of a viewer": ~7,000 per core), but a
  join storm costs several times that, so the plan keeps 2.3x headroom.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class InstanceType:
    name: str
    usd_per_hour: float
    vcpus: int
    baseline_gbps: float


VIEWERS_PER_VCPU = 3000
NETWORK_SHARE = 0.8

INSTANCE_TYPES = {t.name: t for t in (
    InstanceType("t3.medium", 0.0416, 2, 0.256),
    InstanceType("c6i.large", 0.085, 2, 0.781),
    InstanceType("c6i.xlarge", 0.17, 4, 1.562),
    InstanceType("c6i.2xlarge", 0.34, 8, 3.125),
    InstanceType("c6i.4xlarge", 0.68, 16, 6.25),
    InstanceType("c6in.large", 0.1134, 2, 3.125),
    InstanceType("c6in.xlarge", 0.2268, 4, 6.25),
    InstanceType("c6in.2xlarge", 0.4536, 8, 12.5),
    InstanceType("c6in.4xlarge", 0.9072, 16, 25.0),
    InstanceType("m6i.large", 0.096, 2, 0.781),
    InstanceType("m6i.xlarge", 0.192, 4, 1.562),
)}


def hourly_price(instance_type: str) -> float | None:
    """USD per hour on demand (us-east-1), None for a type not in the table."""
    known = INSTANCE_TYPES.get(instance_type)
    return known.usd_per_hour if known else None


def viewers_per_instance(instance_type: str, kbps: float) -> tuple[int, str] | None:
    """(viewers, the budget that limits them: 'network' or 'cpu'), None when unknown."""
    t = INSTANCE_TYPES.get(instance_type)
    if t is None or kbps <= 0:
        return None
    by_network = int(t.baseline_gbps * 1e6 * NETWORK_SHARE / kbps)
    by_cpu = t.vcpus * VIEWERS_PER_VCPU
    return (by_network, "network") if by_network < by_cpu else (by_cpu, "cpu")


def plan(viewers: int, kbps: float, instance_type: str) -> tuple[int, float] | None:
    """(instances, USD per hour) to carry `viewers` at `kbps` on `instance_type`."""
    per = viewers_per_instance(instance_type, kbps)
    price = hourly_price(instance_type)
    if per is None or price is None or per[0] < 1:
        return None
    count = math.ceil(viewers / per[0])
    return count, count * price
