"""EC2 fleets through real boto3 HTTP calls to a local moto server: `streamperf fleet
up|status|down`, the tag rule, the instance guard, and pytest --fleet tearing its fleet
down after a failed set-up, SIGINT and SIGTERM.

moto's instances have no SSH: the CLI tests use `--wait running`; the pytest tests
either wait for SSH that never answers (and are signalled meanwhile) or find the
hosts unreachable in set-up. Their addresses are loopback (127.0.77.x), so nothing
leaves the machine.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamperf.cli import main
from streamperf.fleet.ec2 import FLEET_TAG, OWNER_ID_TAG, OWNER_TAG
from streamperf.hosts.specs import read_hosts_file
from tests.support.local_ec2 import LocalEc2, local_ec2, use_env
from tests.support.nested_pytest import pytest_process

pytestmark = pytest.mark.integration

@pytest.fixture(scope="module")
def ec2() -> Iterator[LocalEc2]:
    with local_ec2() as local, use_env(local.env):
        yield local


def _instances(local: LocalEc2, **filters: str) -> list[dict]:
    flt = [{"Name": k, "Values": [v]} for k, v in filters.items()]
    pages = local.client().describe_instances(Filters=flt)["Reservations"]
    return [i for r in pages for i in r["Instances"]]


def _states(local: LocalEc2, fleet_id: str) -> set[str]:
    return {i["State"]["Name"] for i in _instances(local, **{f"tag:{FLEET_TAG}": fleet_id})}


def _up(local: LocalEc2, tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: str,
        ) -> tuple[int, str, str]:
    rc = main(["fleet", "up", "--instance-type", "c6i.large", "--image-id", local.image_id,
               "--subnet", local.subnet, "--security-group", local.security_group,
               "--key-name", "streamperf-test", "--wait", "running",
               "--report-dir", str(tmp_path), *extra])
    out, err = capsys.readouterr()
    return rc, out, err


def _fleet_id(out: str) -> str:
    found = re.search(r"fleet (spf-[0-9a-f]{8}):", out)
    assert found, out
    return found.group(1)


def test_fleet_up_status_down(ec2: LocalEc2, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    began = time.time()
    rc, out, err = _up(ec2, tmp_path, capsys, "--count", "2", "--idle-shutdown", "90m")
    assert rc == 0, err
    fleet = _fleet_id(out)
    raw = _instances(ec2, **{f"tag:{FLEET_TAG}": fleet})
    assert len(raw) == 2 and {i["State"]["Name"] for i in raw} == {"running"}
    client = ec2.client()
    for inst in raw:
        assert inst["InstanceType"] == "c6i.large" and inst["KeyName"] == "streamperf-test"
        assert inst["MetadataOptions"]["HttpTokens"] == "required"  # IMDSv2 only
        behaviour = client.describe_instance_attribute(
            InstanceId=inst["InstanceId"], Attribute="instanceInitiatedShutdownBehavior")
        assert behaviour["InstanceInitiatedShutdownBehavior"]["Value"] == "terminate"
        user_data = base64.b64decode(client.describe_instance_attribute(
            InstanceId=inst["InstanceId"], Attribute="userData")["UserData"]["Value"]).decode()
        assert "IDLE_SECONDS=5400" in user_data  # 90m
        assert "streamperf-idle-shutdown.timer" in user_data
    # The hosts file names every instance, in the spelling --hosts-file reads.
    hosts = tmp_path / f"fleet-{fleet}" / "hosts"
    specs = read_hosts_file(hosts)
    assert sorted(s.host for s in specs) == sorted(i["PrivateIpAddress"] for i in raw)
    assert {s.user for s in specs} == {"admin"}
    assert "NOT verified" in out  # --wait running: no host key was learnt

    assert main(["fleet", "status", "--fleet", fleet]) == 0
    out = capsys.readouterr().out
    for inst in raw:
        assert re.search(rf"{inst['InstanceId']}\s+running\s+{inst['PrivateIpAddress']}", out)
    assert re.search(rf"fleet {fleet}: 2 instance\(s\), \$\d+\.\d\d so far, \$0\.17/h", out)

    assert main(["fleet", "down", "--fleet", fleet, "--report-dir", str(tmp_path)]) == 0
    assert "2 instance(s) terminating" in capsys.readouterr().out
    assert _states(ec2, fleet) == {"terminated"}
    record = json.loads((tmp_path / f"fleet-{fleet}" / "fleet.json").read_text())
    assert record["terminated"] and record["region"] == "us-east-1"
    # two instances, each up for at most the test's time so far (moto's launch times
    # are the real clock's)
    hours = record["instance_hours"]
    assert record["instance_type"] == "c6i.large"
    assert 0 < hours <= 2 * (time.time() - began + 1) / 3600 + 1e-4, hours
    assert main(["fleet", "status", "--fleet", fleet]) == 0
    assert "no streamperf fleet instances" in capsys.readouterr().out


def test_down_never_touches_an_untagged_instance(ec2: LocalEc2, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    client = ec2.client()
    # Someone else's instances: one bare, one named like ours but without the fleet tag.
    theirs = client.run_instances(
        ImageId=ec2.image_id, MinCount=2, MaxCount=2, SubnetId=ec2.subnet,
        TagSpecifications=[{"ResourceType": "instance",
                            "Tags": [{"Key": "Name", "Value": "streamperf-spf-00000000"}]}],
    )["Instances"]
    bare = client.run_instances(ImageId=ec2.image_id, MinCount=1, MaxCount=1)["Instances"]
    others = [i["InstanceId"] for i in theirs + bare]
    rc, out, err = _up(ec2, tmp_path, capsys, "--count", "1")
    assert rc == 0, err
    fleet = _fleet_id(out)

    assert main(["fleet", "down", "--all", "--yes"]) == 0  # every fleet of the caller's
    out = capsys.readouterr().out
    assert _states(ec2, fleet) == {"terminated"}
    left = client.describe_instances(InstanceIds=others)["Reservations"]
    assert {i["State"]["Name"] for r in left for i in r["Instances"]} == {"running"}
    assert not any(i in out for i in others)
    client.terminate_instances(InstanceIds=others)


def test_more_instances_than_the_limit_need_yes(ec2: LocalEc2, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    before = len(_instances(ec2, **{"tag-key": FLEET_TAG}))
    rc, out, err = _up(ec2, tmp_path, capsys, "--count", "3", "--max-instances", "2")
    assert rc == 2
    assert err.strip().splitlines() == [
        "streamperf fleet up: 3 instances is more than --max-instances 2; pass --yes to "
        "start them anyway (or raise max_instances)"]
    assert len(_instances(ec2, **{"tag-key": FLEET_TAG})) == before  # nothing started
    rc, out, err = _up(ec2, tmp_path, capsys, "--count", "3", "--max-instances", "2", "--yes")
    assert rc == 0, err
    fleet = _fleet_id(out)
    assert _states(ec2, fleet) == {"running"}
    assert len(_instances(ec2, **{f"tag:{FLEET_TAG}": fleet})) == 3
    assert main(["fleet", "down", "--fleet", fleet]) == 0
    assert _states(ec2, fleet) == {"terminated"}


def test_bad_fleet_values_are_one_line_errors(ec2: LocalEc2, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = _up(ec2, tmp_path, capsys, "--count", "1", "--idle-shutdown", "soon")
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert "idle_shutdown = 'soon'" in err
    assert main(["fleet", "down", "--fleet", "nope"]) == 2
    assert "expected a number of instances or a fleet id" in capsys.readouterr().err


# -- pytest --fleet -----------------------------------------------------------------

PROJECT_TEST = '''
def test_needs_load_hosts(load_hosts):
    pass
'''


def _project(root: Path, local: LocalEc2, wait: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(
        "[tool.streamperf.fleet]\n"
        f'image_id = "{local.image_id}"\nsubnet = "{local.subnet}"\n'
        f'security_group = "{local.security_group}"\ninstance_type = "c6i.large"\n'
        f'wait = "{wait}"\nready_timeout = "120s"\n')
    (root / "test_fleet_run.py").write_text(PROJECT_TEST)
    return root


def _pytest(root: Path, *args: str) -> contextlib.AbstractContextManager[subprocess.Popen[str]]:
    return pytest_process("-q", "--rootdir", root, root / "test_fleet_run.py", *args, cwd=root)


def _fleet_ids(local: LocalEc2) -> set[str]:
    return {t["Value"] for i in _instances(local, **{"tag-key": FLEET_TAG})
            for t in i.get("Tags", []) if t["Key"] == FLEET_TAG}


def test_fleet_is_terminated_after_a_failed_set_up(ec2: LocalEc2, tmp_path: Path) -> None:
    root = _project(tmp_path / "project", ec2, "running")
    before = _fleet_ids(ec2)
    with _pytest(root, "--fleet", "2") as proc:
        out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 1, out
    failure = [line for line in out.splitlines() if "streamperf set-up failed:" in line]
    assert failure and "127.0.77." in failure[0], out
    assert "Traceback" not in out
    (fleet,) = _fleet_ids(ec2) - before
    assert _states(ec2, fleet) == {"terminated"}
    assert f"fleet {fleet}: terminated 2 instance(s)" in out


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_fleet_is_terminated_when_the_run_is_stopped(ec2: LocalEc2, tmp_path: Path,
                                                     sig: signal.Signals) -> None:
    root = _project(tmp_path / "project", ec2, "ssh")
    before = _fleet_ids(ec2)
    with _pytest(root, "--fleet", "2") as proc:
        # The fleet runs, and pytest waits for SSH that never answers: stop it then.
        deadline = time.monotonic() + 60
        while not (new := _fleet_ids(ec2) - before) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()[0]
            time.sleep(0.3)
        assert new, "no fleet started"
        (fleet,) = new
        assert _states(ec2, fleet) == {"running"}
        time.sleep(1.0)
        os.kill(proc.pid, sig)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2, out
    assert _states(ec2, fleet) == {"terminated"}
    assert f"fleet {fleet}: no instance left running" in out  # ended as the wait was cut
    assert "Traceback" not in out


def test_down_needs_a_target_and_all_ends_only_the_callers_fleets(
        ec2: LocalEc2, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 24: `fleet down` without a fleet id ended every streamperf fleet in the
    region, colleagues' in a shared account too. Two IAM users of moto's account each
    start a fleet; the owner tags say whose; `down` names one fleet or `--all` of the
    caller's own."""
    import boto3

    iam = boto3.session.Session().client("iam", region_name="us-east-1")
    keys = {}
    for name in ("alice", "bob"):
        iam.create_user(UserName=name)
        key = iam.create_access_key(UserName=name)["AccessKey"]
        keys[name] = (key["AccessKeyId"], key["SecretAccessKey"])
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)

    def as_user(name: str) -> None:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", keys[name][0])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", keys[name][1])

    fleets = {}
    for name in ("alice", "bob"):
        as_user(name)
        rc, out, err = _up(ec2, tmp_path, capsys, "--count", "1")
        assert rc == 0, err
        fleets[name] = _fleet_id(out)
    owners = {i["Tags"][0]["Value"]: {t["Key"]: t["Value"] for t in i["Tags"]}
              for i in _instances(ec2, **{"tag-key": FLEET_TAG})
              if i["State"]["Name"] == "running"}
    for name, fid in fleets.items():
        tags = next(t for t in owners.values() if t[FLEET_TAG] == fid)
        assert tags[OWNER_TAG].endswith(f":user/{name}") and tags[OWNER_ID_TAG]

    as_user("alice")
    assert main(["fleet", "down", "--report-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--fleet ID" in err and "--all" in err and "\n" not in err.strip()
    assert main(["fleet", "down", "--all", "--report-dir", str(tmp_path)]) == 2  # not a tty
    assert "--yes" in capsys.readouterr().err
    assert {_states(ec2, f).pop() for f in fleets.values()} == {"running"}

    assert main(["fleet", "down", "--all", "--yes", "--report-dir", str(tmp_path)]) == 0
    assert "1 instance(s) terminating" in capsys.readouterr().out
    assert _states(ec2, fleets["alice"]) == {"terminated"}
    assert _states(ec2, fleets["bob"]) == {"running"}  # a colleague's fleet, mid-run
    # bob's fleet, named: it is ended (an explicit id is an explicit wish)
    as_user("bob")
    assert main(["fleet", "down", "--fleet", fleets["bob"], "--report-dir", str(tmp_path)]) == 0
    assert _states(ec2, fleets["bob"]) == {"terminated"}
