"""A fleet's life: up (launch, wait, verify host keys, write the hosts file), reuse,
status, down. The CLI and the pytest session both go through FleetControl.

Teardown selects instances by the fleet tag, never by a list kept here, so
an instance launched just before a Ctrl-C is found and terminated as well.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamperf.fleet import ec2 as aws
from streamperf.fleet.config import FleetConfig, FleetError
from streamperf.fleet.ec2 import FleetInstance
from streamperf.fleet.host_keys import (
    console_host_keys,
    known_hosts_lines,
    presented_key,
    ssh_answers,
    wait_until,
)
from streamperf.fleet.hosts_file import (
    FleetFiles,
    fleet_record,
    host_specs,
    write_hosts_file,
    write_record,
)
from streamperf.fleet.user_data import render_user_data
from streamperf.hosts.specs import HostSpec
from streamperf.option_values import FLEET_ID_PREFIX

SSH_PORT = 22


def new_fleet_id() -> str:
    return FLEET_ID_PREFIX + secrets.token_hex(4)


@dataclass
class Fleet:
    """A fleet ready for a run: its instances and the hosts file naming them."""

    fleet_id: str
    region: str
    instance_type: str
    instances: list[FleetInstance]
    specs: list[HostSpec]
    files: FleetFiles
    keys_verified: bool

    def record(self) -> dict[str, Any]:
        return fleet_record(self.fleet_id, self.region, self.instance_type, self.instances)


def _quiet(_: str) -> None:
    pass


class FleetControl:
    """One region's fleets, with `config` for new ones; files under `report_dir`."""

    def __init__(self, config: FleetConfig, report_dir: Path,
                 say: Callable[[str], None] = _quiet) -> None:
        self.config = config
        self.report_dir = report_dir
        self.say = say
        self.ec2 = aws.ec2_client(config.region)
        self.region = str(self.ec2.meta.region_name)
        self._caller: aws.Caller | None = None

    @property
    def caller(self) -> aws.Caller:
        """Who calls AWS: the owner new fleets are tagged with, and `down --all` ends."""
        if self._caller is None:
            self._caller = aws.caller(self.region)
        return self._caller

    def check_count(self, count: int, yes: bool) -> None:
        """The instance guard: more than max_instances only with --yes."""
        limit = self.config.max_instances
        if count > limit and not yes:
            raise FleetError(f"{count} instances is more than --max-instances {limit}; pass "
                             "--yes to start them anyway (or raise max_instances)")

    def up(self, fleet_id: str, *, yes: bool = False) -> Fleet:
        """Launch config.count instances as fleet `fleet_id` and wait until ready. On any
        failure, Ctrl-C included, whatever was launched is terminated before raising."""
        cfg = self.config
        self.check_count(cfg.count, yes)
        if not cfg.image_id:
            raise FleetError("no image: pass --image-id (or image_id in "
                             "[tool.streamperf.fleet]); infra/packer builds one")
        from streamperf.hosts.prepare import WORKER_REQUIREMENTS

        user_data = render_user_data(cfg.idle_shutdown, WORKER_REQUIREMENTS)
        self.say(f"fleet {fleet_id}: starting {cfg.count} × {cfg.instance_type} in "
                 f"{self.region}")
        try:
            aws.launch(self.ec2, cfg, fleet_id, user_data, self.caller)
            return self.ready(fleet_id, cfg.count)
        except BaseException:
            gone = self.down(fleet_id)
            self.say(f"fleet {fleet_id}: not ready; terminated {len(gone)} instance(s)")
            raise

    def reuse(self, fleet_id: str) -> Fleet:
        """A fleet started before (`--keep-fleet`, `fleet up`): its running instances."""
        live = aws.fleet_instances(self.ec2, fleet_id)
        if not live:
            raise FleetError(f"fleet {fleet_id}: no live instances in {self.region}")
        return self.ready(fleet_id, len(live))

    def ready(self, fleet_id: str, count: int) -> Fleet:
        cfg = self.config
        deadline = time.monotonic() + cfg.ready_timeout
        running = aws.wait_running(self.ec2, fleet_id, count, cfg.ready_timeout)
        addresses = [i.address(cfg.address) for i in running]
        if not all(addresses):
            bad = next(i for i, a in zip(running, addresses, strict=True) if not a)
            raise FleetError(f"fleet {fleet_id}: {bad.id} has no {cfg.address} address "
                             "(a subnet without public IPs? try address = 'private')")
        files = FleetFiles.of(self.report_dir, fleet_id)
        files.dir.mkdir(parents=True, exist_ok=True)
        verified = cfg.wait == "ssh"
        if verified:
            self.say(f"fleet {fleet_id}: {len(running)} running; waiting for SSH")
            lines = []
            for inst, address in zip(running, addresses, strict=True):
                lines += self._verified_keys(inst, address, deadline)
            files.known_hosts.write_text("\n".join(lines) + "\n")
        elif not files.known_hosts.exists():
            files.known_hosts.write_text("")  # nothing verified: hosts are refused over SSH
        specs = host_specs(addresses, cfg.ssh_user)
        write_hosts_file(files.hosts, specs,
                         f"streamperf fleet {fleet_id}: {len(running)} × {cfg.instance_type} "
                         f"in {self.region}\nknown hosts: {files.known_hosts}"
                         + ("" if verified else " (not verified: --wait running)"))
        fleet = Fleet(fleet_id, self.region, cfg.instance_type, running, specs, files, verified)
        write_record(files.record, fleet.record())
        return fleet

    def _verified_keys(self, inst: FleetInstance, address: str, deadline: float) -> list[str]:
        """Wait for SSH on the instance, then its host keys from its console; the key it
        presents must be among them."""
        left = max(0.0, deadline - time.monotonic())
        if not wait_until(lambda: ssh_answers(address, SSH_PORT), left):
            raise FleetError(f"{inst.id} ({address}): no SSH answer within "
                             f"{self.config.ready_timeout:g} s")
        keys: list[tuple[str, str]] = []

        def console_keys() -> bool:
            keys[:] = console_host_keys(aws.console_output(self.ec2, inst.id))
            return bool(keys)

        if not wait_until(console_keys, max(0.0, deadline - time.monotonic()), poll_s=5.0):
            raise FleetError(f"{inst.id}: no SSH host keys in its console output; the AMI "
                             "must run cloud-init (or use --wait running and --known-hosts)")
        shown = presented_key(address, SSH_PORT)
        if shown not in keys:
            raise FleetError(f"{inst.id} ({address}): presents a {shown[0]} host key that is "
                             "not in its console output; refusing it")
        return known_hosts_lines(address, SSH_PORT, keys)

    def status(self, fleet_id: str = "") -> list[FleetInstance]:
        return aws.fleet_instances(self.ec2, fleet_id)

    def mine(self) -> list[FleetInstance]:
        """The live instances of the caller's fleets (owner tag) in the region."""
        return aws.fleet_instances(self.ec2, owner=self.caller.arn)

    def down(self, fleet_id: str = "", *, all_mine: bool = False) -> list[FleetInstance]:
        """Terminate fleet `fleet_id`, or with `all_mine` every fleet the caller started in
        the region (never anyone else's); each fleet.json gets its final instance-hours."""
        if not fleet_id and not all_mine:
            raise FleetError("name the fleet to end (--fleet ID), or --all for every fleet "
                             "you started in the region")
        gone = aws.terminate(self.ec2, fleet_id, owner="" if fleet_id else self.caller.arn)
        for fid in sorted({i.fleet_id for i in gone}):
            files = FleetFiles.of(self.report_dir, fid)
            if files.dir.is_dir():
                mine = [i for i in gone if i.fleet_id == fid]
                write_record(files.record, {**fleet_record(fid, self.region, mine[0].instance_type,
                                                           mine), "terminated": True})
        return gone
