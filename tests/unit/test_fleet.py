"""The fleet's pure parts: settings, host keys from a console, the hosts file and
record, prices and capacity, the user data and the idle shutdown script's decisions."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from streamperf.fleet.config import FleetConfig, FleetError, load_fleet_config
from streamperf.fleet.ec2 import FleetInstance
from streamperf.fleet.host_keys import BEGIN, END, console_host_keys, known_hosts_lines
from streamperf.fleet.hosts_file import fleet_record, host_specs, write_hosts_file
from streamperf.fleet.idle_shutdown import FILES
from streamperf.fleet.pricing import INSTANCE_TYPES, plan, viewers_per_instance
from streamperf.fleet.user_data import USER_DATA_LIMIT, render_user_data
from streamperf.hosts.prepare import WORKER_REQUIREMENTS
from streamperf.hosts.specs import read_hosts_file
from streamperf.option_values import fleet_ref, is_fleet_id
from streamperf.settings import build_settings


def test_fleet_settings_from_pyproject_then_options(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[tool.streamperf.fleet]\nregion = "eu-west-1"\ncount = 4\n'
                         'idle_shutdown = "30m"\nimage_id = "ami-0abc"\n')
    config = load_fleet_config(pyproject, {"count": "6", "wait": "running"})
    assert (config.region, config.count, config.idle_shutdown, config.wait) == (
        "eu-west-1", 6, 1800.0, "running")
    assert config.image_id == "ami-0abc" and config.max_instances == FleetConfig().max_instances
    assert load_fleet_config(tmp_path / "absent.toml") == FleetConfig()


@pytest.mark.parametrize(("table", "message"), [
    ('colour = "red"', "unknown fleet setting 'colour'"),
    ('image_id = "img-1"', "image_id = 'img-1': expected an id starting with ami-"),
    ('wait = "forever"', "wait = 'forever'"),
    ("count = 0", "count = 0"),
    ("fleet = 3", "[tool.streamperf.fleet] must be a table"),
])
def test_bad_fleet_settings_are_one_line_errors(tmp_path: Path, table: str, message: str,
                                                ) -> None:
    pyproject = tmp_path / "pyproject.toml"
    header = "[tool.streamperf]\n" if table.startswith("fleet =") else "[tool.streamperf.fleet]\n"
    pyproject.write_text(header + table + "\n")
    with pytest.raises(FleetError) as exc:
        load_fleet_config(pyproject)
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_fleet_option_takes_a_count_or_a_fleet_id() -> None:
    assert fleet_ref("03") == "3" and fleet_ref("spf-0a1b2c3d") == "spf-0a1b2c3d"
    assert is_fleet_id("spf-0a1b2c3d") and not is_fleet_id("3")
    s = build_settings({"fleet": "2", "keep_fleet": True, "procs_per_host": "auto"}, environ={})
    assert (s.fleet, s.keep_fleet, s.procs_per_host) == ("2", True, "auto")
    for bad in ("0", "-1", "spf-XYZ", "fleet"):
        with pytest.raises(ValueError):
            fleet_ref(bad)


def _keypair(tmp_path: Path, name: str) -> tuple[str, str]:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / name)],
                   check=True)
    kind, key = (tmp_path / f"{name}.pub").read_text().split()[:2]
    return kind, key


def test_host_keys_come_from_the_last_key_block_of_the_console(tmp_path: Path) -> None:
    old, new = _keypair(tmp_path, "old"), _keypair(tmp_path, "new")
    console = "\n".join([
        "[    0.000000] Linux version 6.1.0", BEGIN, f"{old[0]} {old[1]} root@ip-1", END,
        "cloud-init: rebooting", BEGIN,
        f"ec2: {new[0]} {new[1]} root@ip-10-0-0-7",  # some images prefix the lines
        "ecdsa-sha2-nistp256 not-base64!! root@x", "garbage line", END, "login:"])
    assert console_host_keys(console) == [new]
    assert console_host_keys("no keys here") == []
    assert known_hosts_lines("10.0.0.7", 22, [new]) == [f"10.0.0.7 {new[0]} {new[1]}"]
    assert known_hosts_lines("10.0.0.7", 2222, [new])[0].startswith("[10.0.0.7]:2222 ")


def _instance(n: int, hours_ago: float, kind: str = "c6i.large") -> FleetInstance:
    launched = datetime(2026, 1, 1, 12, tzinfo=UTC) - timedelta(hours=hours_ago)
    return FleetInstance(f"i-{n}", "running", kind, launched, "spf-0a1b2c3d",
                         public_ip=f"203.0.113.{n}", private_ip=f"10.0.0.{n}")


def test_hosts_file_is_read_back_as_the_fleets_hosts(tmp_path: Path) -> None:
    instances = [_instance(1, 1), _instance(2, 1)]
    specs = host_specs([i.address() for i in instances], "admin")
    write_hosts_file(tmp_path / "hosts", specs, "streamperf fleet spf-0a1b2c3d\nsecond line")
    assert read_hosts_file(tmp_path / "hosts") == specs
    assert [str(s) for s in specs] == ["admin@203.0.113.1:22", "admin@203.0.113.2:22"]
    assert instances[0].address("private") == "10.0.0.1"


def test_fleet_record_sums_instance_hours_and_cost() -> None:
    until = datetime(2026, 1, 1, 12, tzinfo=UTC)
    instances = [_instance(1, 2.0), _instance(2, 0.5)]
    record = fleet_record("spf-0a1b2c3d", "us-east-1", "c6i.large", instances, until)
    assert record["instance_hours"] == pytest.approx(2.5)
    price = INSTANCE_TYPES["c6i.large"].usd_per_hour
    assert record["cost_usd_on_demand"] == pytest.approx(2.5 * price, abs=1e-4)
    assert record["instances"] == ["i-1", "i-2"]
    odd = fleet_record("spf-0a1b2c3d", "us-east-1", "x9.huge", [_instance(3, 1, "x9.huge")],
                       until)
    assert odd["cost_usd_on_demand"] is None and odd["instance_hours"] == pytest.approx(1)


@pytest.mark.parametrize("kind", sorted(INSTANCE_TYPES))
def test_capacity_is_the_tighter_of_network_and_cpu(kind: str) -> None:
    t = INSTANCE_TYPES[kind]
    for kbps in (300.0, 1100.0, 6000.0):
        viewers, limit = viewers_per_instance(kind, kbps) or (0, "")
        network = t.baseline_gbps * 1e6 * 0.8 / kbps
        assert viewers <= network + 1 and viewers <= t.vcpus * 3000
        assert limit == ("network" if network < t.vcpus * 3000 else "cpu")
        count, usd = plan(10_000, kbps, kind) or (0, 0.0)
        assert count * viewers >= 10_000 > (count - 1) * viewers
        assert usd == pytest.approx(count * t.usd_per_hour)
    assert viewers_per_instance("x9.huge", 1100) is None


def test_user_data_is_valid_bash_within_ec2s_limit(tmp_path: Path) -> None:
    script = render_user_data(3600, WORKER_REQUIREMENTS)
    assert len(script.encode()) < USER_DATA_LIMIT
    (tmp_path / "ud.sh").write_text(script)
    subprocess.run(["bash", "-n", str(tmp_path / "ud.sh")], check=True)
    for text in FILES.values():
        assert text in script
    assert "IDLE_SECONDS=3600" in script and " ".join(WORKER_REQUIREMENTS) in script


def _idle_check(tmp_path: Path, sessions: str) -> tuple[str, bool]:
    """Run the idle script with `ss` and `systemctl` stubs; (its output, powered off?)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "ss").write_text(f"#!/bin/sh\nprintf '%s' '{sessions}'\n")
    (bin_dir / "systemctl").write_text(f"#!/bin/sh\necho \"$@\" >> {tmp_path}/systemctl.log\n")
    for stub in ("ss", "systemctl"):
        (bin_dir / stub).chmod(0o755)
    script = tmp_path / "idle"
    script.write_text(FILES["streamperf-idle-shutdown"])
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "IDLE_SECONDS": "0",
           "STAMP": str(tmp_path / "stamp")}
    out = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True,
                         check=True).stdout
    log = tmp_path / "systemctl.log"
    return out, log.exists() and "poweroff" in log.read_text()


def test_idle_shutdown_waits_for_a_quiet_spell_and_spares_ssh_sessions(tmp_path: Path) -> None:
    assert _idle_check(tmp_path, "") == ("", False)  # first check after boot starts the clock
    assert (tmp_path / "stamp").exists()
    assert _idle_check(tmp_path, "ESTAB 0 0 10.0.0.7:22 10.0.0.1:50000\n")[1] is False
    out, off = _idle_check(tmp_path, "")
    assert off and "powering off" in out
