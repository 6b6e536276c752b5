"""A fleet's hosts for real, with sshd standing in for new instances:

- the user data `streamperf fleet up` gives an instance, run over SSH, leaves
  streamperf importable from the controller's wheels, the open-files limit raised
  and the idle auto-shutdown installed and enabled (systemd-analyze verify);
- `pytest --fleet 1` against a local EC2 endpoint (moto) whose instance's address
  is an sshd on loopback: the viewers run there, summary.json records the fleet,
  and the fleet is terminated after the passing run.

The user data runs as root under STREAMPERF_ROOT (a temp dir standing in for the
new instance's /), so it changes nothing on this machine; what only a booted
instance can do (restart sshd, start the timer) is skipped there. The run then
uses the venv the user data made (--remote-dir ROOT/opt/streamperf, as on the
packer AMI). Creating that venv loads the CPU: `make test` runs this module with
the SSH tests (ALONE in the Makefile).
"""

from __future__ import annotations

import json
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import streamperf
from streamperf.fleet.ec2 import FLEET_TAG
from streamperf.fleet.idle_shutdown import ENV_PATH, SCRIPT_PATH, SERVICE, TIMER
from streamperf.fleet.user_data import NOFILE, VENV, render_user_data
from streamperf.hosts.prepare import WORKER_REQUIREMENTS, build_wheelhouse
from tests.support.local_ec2 import LocalEc2, local_ec2, use_env
from tests.support.nested_pytest import run_perf
from tests.support.sshd_lab import Lab, Sshd

pytestmark = [pytest.mark.integration, pytest.mark.loads_cpu, pytest.mark.realtime]

IDLE_S = 5400


@pytest.fixture(scope="module")
def instance_root(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A stand-in instance's / after its user data ran over SSH; (root, script output)."""
    wheelhouse = build_wheelhouse()  # the controller's wheels (cached between sessions)
    root = tmp_path_factory.mktemp("instance-root")
    # The stand-in image has systemd's own units, as a real one does.
    (root / "usr/lib/systemd").mkdir(parents=True)
    (root / "usr/lib/systemd/system").symlink_to("/usr/lib/systemd/system")
    script = root.parent / f"{root.name}-user-data.sh"
    script.write_text(render_user_data(IDLE_S, WORKER_REQUIREMENTS))
    with lab.host(0) as host:
        remote_script = f"{root}.sh"
        host.put_file(script, remote_script)
        out = host.check(f"STREAMPERF_ROOT={shlex.quote(str(root))} "
                         f"STREAMPERF_WHEELHOUSE={shlex.quote(str(wheelhouse))} "
                         f"bash {shlex.quote(remote_script)}", timeout_s=600,
                         what="user data")
    return root, out


def test_user_data_prepares_a_new_host(lab: Lab, instance_root: tuple[Path, str]) -> None:
    root, out = instance_root
    assert out.strip().endswith("streamperf-user-data: ready"), out
    with lab.host(0) as host:
        version = host.check(f"{root}{VENV}/bin/python -c "
                             + shlex.quote("import aiohttp, streamperf, streamperf.load.shard;"
                                           "print(streamperf.__version__)"))
    assert version.strip() == streamperf.__version__

    limits = (root / "etc/security/limits.d/90-streamperf.conf").read_text().split("\n")
    for who in ("*", "root"):
        for kind in ("soft", "hard"):
            assert f"{who} {kind} nofile {NOFILE}".split() in [line.split() for line in limits]
    for unit in ("ssh", "sshd"):
        dropin = root / f"etc/systemd/system/{unit}.service.d/streamperf-nofile.conf"
        assert f"LimitNOFILE={NOFILE}" in dropin.read_text()

    assert (root / SCRIPT_PATH.lstrip("/")).stat().st_mode & 0o111
    assert (root / ENV_PATH.lstrip("/")).read_text() == f"IDLE_SECONDS={IDLE_S}\n"
    wants = root / "etc/systemd/system/timers.target.wants" / TIMER
    assert wants.is_symlink() and wants.readlink() == Path("/etc/systemd/system") / TIMER
    verify = subprocess.run(
        ["systemd-analyze", "verify", f"--root={root}", f"/etc/systemd/system/{TIMER}",
         f"/etc/systemd/system/{SERVICE}"], capture_output=True, text=True, cwd=root)
    ours = [line for line in verify.stderr.splitlines() if "streamperf" in line]
    assert verify.returncode == 0 and not ours, verify.stderr


# -- a run over a fleet ---------------------------------------------------------------

SUBNET = "127.0.78.0/24"
FIRST_ADDRESS = "127.0.78.4"  # the endpoint's first instance in SUBNET (moto keeps .0-.3)

RUN_TEST = '''
def test_watch_over_the_fleet(viewers):
    outcome = viewers.run(users=4, ramp_s=0.1, duration_s=4.0)
    # Every fan watched on the fleet's host, without an error. (Not the verdict: four
    # seconds of watching is too short for a steady bitrate ratio on a busy machine.)
    m = outcome.analysis.summary()
    assert (m["viewers_with_media"], m["viewer_errors"], m["api_errors"]) == (4, 0, 0), m
    assert outcome.verdict.word in ("PASS", "FAIL"), outcome.verdict
'''


@pytest.fixture(scope="module")
def ec2() -> Iterator[LocalEc2]:
    with local_ec2(SUBNET) as local, use_env(local.env):
        yield local


@pytest.fixture(scope="module")
def instance_sshd(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    """An sshd where the fleet's first instance will be, on port 22 as on EC2."""
    sshd = Sshd(tmp_path_factory.mktemp("instance-sshd"), FIRST_ADDRESS, 22,
                lab.key.with_suffix(".pub"))
    with sshd:  # the port is chosen as it starts: 22, or another when 22 is taken
        if sshd.port != 22:
            pytest.skip(f"port 22 on {FIRST_ADDRESS} is taken")
        yield sshd


def test_a_run_over_a_fleet_records_it_and_ends_it(
        ec2: LocalEc2, instance_sshd: Sshd, instance_root: tuple[Path, str], lab: Lab,
        tmp_path: Path) -> None:
    root, _ = instance_root
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        "[tool.streamperf.fleet]\n"
        f'image_id = "{ec2.image_id}"\nsubnet = "{ec2.subnet}"\ninstance_type = "c6in.large"\n'
        # moto's instances print no host keys: nothing to verify them against here.
        'wait = "running"\nssh_user = "root"\n')
    (project / "test_run.py").write_text(RUN_TEST)
    reports = tmp_path / "reports"
    r = run_perf(reports, "-q", "--rootdir", project, "--fleet", "1", "--sshkeyfile", lab.key,
                 "--ssh-insecure", "--calibration", "0", "--remote-dir", f"{root}/opt/streamperf",
                 tests=project / "test_run.py", cwd=project, timeout=600)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    run = (reports / "latest").resolve()
    summary = json.loads((run / "summary.json").read_text())
    fleet = summary["fleet"]
    assert fleet["region"] == "us-east-1" and fleet["instance_type"] == "c6in.large"
    assert fleet["fleet_id"].startswith("spf-") and len(fleet["instances"]) == 1
    assert 0 < fleet["instance_hours"] < 0.5
    assert [h["host"] for h in summary["load_hosts"]] == [f"{FIRST_ADDRESS}:22"]
    assert summary["load_hosts"][0]["venv_python"] == f"{root}{VENV}/bin/python"
    assert summary["metrics"]["viewers_with_media"] == 4
    instances = ec2.client().describe_instances(
        Filters=[{"Name": f"tag:{FLEET_TAG}", "Values": [fleet["fleet_id"]]}])["Reservations"]
    assert {i["State"]["Name"] for res in instances for i in res["Instances"]} == {"terminated"}


def test_host_key_check_sees_the_key_the_host_presents(lab: Lab) -> None:
    """How `fleet up --wait ssh` checks a host against the keys its console printed."""
    from streamperf.fleet.host_keys import presented_key, ssh_answers

    server = lab.servers[0]
    kind, key = server.host_key.with_suffix(".pub").read_text().split()[:2]
    assert ssh_answers(server.addr, server.port)
    assert presented_key(server.addr, server.port) == (kind, key)
    assert not ssh_answers(server.addr, 1)  # nothing listens there
