"""A fleet's settings: `[tool.streamperf.fleet]` in pyproject.toml, then the command line.

One table of keys (FLEET_KEYS) with a parser each, so the CLI flags, the
pyproject keys and their errors agree. Credentials are not settings: boto3's
standard chain finds them, and AWS_ENDPOINT_URL is honoured by boto3 itself.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamperf.option_values import int_in, one_of, positive_duration

WAIT_MODES = ("ssh", "running")
ADDRESS_KINDS = ("auto", "public", "private")
DEFAULT_INSTANCE_TYPE = "c6in.xlarge"
DEFAULT_MAX_INSTANCES = 20
DEFAULT_IDLE_SHUTDOWN_S = 2 * 3600.0
#: Debian 12's AMIs log in as `admin`; the packer template builds on Debian 12.
DEFAULT_SSH_USER = "admin"


class FleetError(RuntimeError):
    """A fleet problem, with a one-line message (never a credential)."""


def _aws_name(prefix: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        text = str(text).strip()
        if not text.startswith(prefix) or len(text) <= len(prefix) or " " in text:
            raise ValueError(f"expected an id starting with {prefix}")
        return text
    return parse


def _word(text: str) -> str:
    text = str(text).strip()
    if not text or any(c.isspace() for c in text):
        raise ValueError("expected one word")
    return text


@dataclass(frozen=True)
class FleetKey:
    field: str
    parse: Callable[[str], Any]
    help: str


FLEET_KEYS: tuple[FleetKey, ...] = (
    FleetKey("count", int_in(1), "number of instances"),
    FleetKey("instance_type", _word, f"EC2 instance type (default {DEFAULT_INSTANCE_TYPE})"),
    FleetKey("region", _word, "AWS region (default: AWS_DEFAULT_REGION / your AWS config)"),
    FleetKey("image_id", _aws_name("ami-"), "AMI: the packer template's in infra/, or a "
             "Debian 12 / Ubuntu image (Python >= 3.11)"),
    FleetKey("key_name", _word, "EC2 key pair to log in with"),
    FleetKey("security_group", _aws_name("sg-"), "security group (SSH in from the "
             "controller; the platform's ports out)"),
    FleetKey("subnet", _aws_name("subnet-"), "subnet to start the instances in"),
    FleetKey("idle_shutdown", positive_duration, "an instance with no SSH session for this "
             "long shuts itself down, which terminates it (default 2h)"),
    FleetKey("max_instances", int_in(1), f"refuse more instances than this without --yes "
             f"(default {DEFAULT_MAX_INSTANCES})"),
    FleetKey("wait", one_of(*WAIT_MODES), "wait until instances answer on SSH (ssh, default) "
             "or only run (running: endpoints with no SSH)"),
    FleetKey("ssh_user", _word, f"login user on the instances (default {DEFAULT_SSH_USER})"),
    FleetKey("address", one_of(*ADDRESS_KINDS), "address in the hosts file: public, private "
             "(controller in the same VPC) or auto (public when there is one)"),
    FleetKey("ready_timeout", positive_duration, "how long to wait for the fleet (default 10m)"),
)
KEY_BY_FIELD = {k.field: k for k in FLEET_KEYS}


@dataclass(frozen=True)
class FleetConfig:
    count: int = 1
    instance_type: str = DEFAULT_INSTANCE_TYPE
    region: str = ""
    image_id: str = ""
    key_name: str = ""
    security_group: str = ""
    subnet: str = ""
    idle_shutdown: float = DEFAULT_IDLE_SHUTDOWN_S
    max_instances: int = DEFAULT_MAX_INSTANCES
    wait: str = WAIT_MODES[0]
    ssh_user: str = DEFAULT_SSH_USER
    address: str = ADDRESS_KINDS[0]
    ready_timeout: float = 600.0

    def with_values(self, values: Mapping[str, Any], source: str) -> FleetConfig:
        """Raw values (None = not given) parsed and applied; FleetError names `source`."""
        changes: dict[str, Any] = {}
        for name, raw in values.items():
            if raw is None:
                continue
            key = KEY_BY_FIELD.get(name)
            if key is None:
                known = ", ".join(KEY_BY_FIELD)
                raise FleetError(f"{source}: unknown fleet setting {name!r} (known: {known})")
            try:
                changes[name] = key.parse(str(raw))
            except ValueError as exc:
                raise FleetError(f"{source}: {name} = {raw!r}: {exc}") from None
        return dataclasses.replace(self, **changes)


def pyproject_fleet(path: Path) -> dict[str, Any]:
    """`[tool.streamperf.fleet]` of a pyproject.toml ({} when file or table is absent)."""
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise FleetError(f"{path}: not valid TOML: {exc}") from None
    tool = doc.get("tool", {}).get("streamperf", {})
    table = tool.get("fleet", {}) if isinstance(tool, dict) else {}
    if not isinstance(table, dict):
        raise FleetError(f"{path}: [tool.streamperf.fleet] must be a table")
    return table


def load_fleet_config(pyproject: Path, overrides: Mapping[str, Any] | None = None) -> FleetConfig:
    """pyproject's settings, then `overrides` (the command line) over them."""
    config = FleetConfig().with_values(pyproject_fleet(pyproject),
                                       f"{pyproject} [tool.streamperf.fleet]")
    return config.with_values(overrides or {}, "option")
