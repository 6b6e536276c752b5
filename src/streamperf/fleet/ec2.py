"""Every EC2 call a fleet makes (boto3), and the one rule that guards them: streamperf
only ever touches instances carrying its fleet tag.

Credentials come from boto3's standard chain and never appear in a message;
AWS_ENDPOINT_URL (a local endpoint, as the tests' moto server) is honoured by
boto3 itself. Errors become FleetError with the service's code and message.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from streamperf.fleet.config import FleetConfig, FleetError

#: The tag every fleet instance carries; its value is the fleet id. `down` and the
#: pytest teardown select instances by it and check it again before terminating.
FLEET_TAG = "streamperf:fleet"
#: Who started it: the caller's ARN (readable, what `down --all` filters on) and its
#: user id (what an IAM condition compares with ${aws:userid}: docs/fleet.md)
OWNER_TAG = "streamperf:owner"
OWNER_ID_TAG = "streamperf:owner-id"
NAME_PREFIX = "streamperf-"
GONE_STATES = ("shutting-down", "terminated")
LIVE_STATES = ("pending", "running", "stopping", "stopped")


@dataclass(frozen=True)
class FleetInstance:
    id: str
    state: str
    instance_type: str
    launch_time: datetime
    fleet_id: str
    public_ip: str = ""
    private_ip: str = ""
    owner: str = ""

    def address(self, kind: str = "auto") -> str:
        """The address the controller uses: public, private, or public when there is one."""
        if kind == "private":
            return self.private_ip
        if kind == "public":
            return self.public_ip
        return self.public_ip or self.private_ip

    def age_s(self, now: datetime | None = None) -> float:
        return max(0.0, ((now or datetime.now(UTC)) - self.launch_time).total_seconds())


def _instance(raw: dict[str, Any]) -> FleetInstance:
    tags = {t.get("Key"): t.get("Value", "") for t in raw.get("Tags") or ()}
    launch = raw.get("LaunchTime")
    if not isinstance(launch, datetime):
        launch = datetime.now(UTC)
    if launch.tzinfo is None:
        launch = launch.replace(tzinfo=UTC)
    return FleetInstance(
        id=str(raw["InstanceId"]), state=str(raw.get("State", {}).get("Name", "?")),
        instance_type=str(raw.get("InstanceType", "?")), launch_time=launch,
        fleet_id=str(tags.get(FLEET_TAG) or ""), public_ip=str(raw.get("PublicIpAddress") or ""),
        private_ip=str(raw.get("PrivateIpAddress") or ""), owner=str(tags.get(OWNER_TAG) or ""),
    )  # fmt: skip


@contextmanager
def aws_errors(what: str) -> Iterator[None]:
    """botocore's exceptions as one FleetError line naming what was being done."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        yield
    except NoCredentialsError:
        raise FleetError(f"{what}: no AWS credentials (environment, ~/.aws/credentials, "
                         "an instance profile or SSO: boto3's usual chain)") from None
    except ClientError as exc:
        err = exc.response.get("Error", {})
        message = str(err.get("Message", "")).splitlines()[0] if err.get("Message") else ""
        raise FleetError(f"{what}: {err.get('Code', 'error')}: {message}") from None
    except BotoCoreError as exc:
        raise FleetError(f"{what}: {str(exc).splitlines()[0]}") from None


def ec2_client(region: str) -> Any:
    """An EC2 client for `region` ('' = the AWS config's region); FleetError without one."""
    import boto3

    session = boto3.session.Session()
    region = region or session.region_name or ""
    if not region:
        raise FleetError("no AWS region: pass --region, set region in [tool.streamperf.fleet] "
                         "or AWS_DEFAULT_REGION")
    with aws_errors("EC2 client"):
        return session.client("ec2", region_name=region)


@dataclass(frozen=True)
class Caller:
    """Who calls AWS (STS GetCallerIdentity): what a fleet's owner tags hold."""

    arn: str
    user_id: str


def caller(region: str) -> Caller:
    """The caller's identity; FleetError when STS cannot say."""
    import boto3

    session = boto3.session.Session()
    with aws_errors("asking STS who the caller is"):
        me = session.client("sts", region_name=region or session.region_name).get_caller_identity()
    return Caller(str(me.get("Arn") or ""), str(me.get("UserId") or ""))


def launch(ec2: Any, config: FleetConfig, fleet_id: str, user_data: str,
           owner: Caller) -> list[FleetInstance]:
    """Start config.count instances tagged with `fleet_id` and `owner` (instances and
    their volumes); an instance that shuts itself down (idle) is terminated, not kept
    stopped."""
    tags = [{"Key": FLEET_TAG, "Value": fleet_id}, {"Key": "Name", "Value": NAME_PREFIX + fleet_id},
            {"Key": OWNER_TAG, "Value": owner.arn}, {"Key": OWNER_ID_TAG, "Value": owner.user_id}]
    args: dict[str, Any] = {
        "ImageId": config.image_id, "InstanceType": config.instance_type,
        "MinCount": config.count, "MaxCount": config.count, "UserData": user_data,
        "InstanceInitiatedShutdownBehavior": "terminate",
        # IMDSv2 only: a request forged through the host (SSRF) cannot read its role
        "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled"},
        "TagSpecifications": [{"ResourceType": "instance", "Tags": tags},
                              {"ResourceType": "volume", "Tags": tags}],
    }  # fmt: skip
    if config.key_name:
        args["KeyName"] = config.key_name
    if config.subnet:
        args["SubnetId"] = config.subnet
    if config.security_group:
        args["SecurityGroupIds"] = [config.security_group]
    with aws_errors(f"starting {config.count} × {config.instance_type}"):
        answer = ec2.run_instances(**args)
    return [_instance(raw) for raw in answer.get("Instances", [])]


def fleet_instances(ec2: Any, fleet_id: str = "", *, include_gone: bool = False,
                    owner: str = "") -> list[FleetInstance]:
    """Instances carrying the fleet tag (with value `fleet_id`, or any streamperf fleet),
    of `owner` (an ARN) when given; terminated ones only with include_gone."""
    tag_filter = ({"Name": f"tag:{FLEET_TAG}", "Values": [fleet_id]} if fleet_id
                  else {"Name": "tag-key", "Values": [FLEET_TAG]})
    filters = [tag_filter]
    if owner:
        filters.append({"Name": f"tag:{OWNER_TAG}", "Values": [owner]})
    if not include_gone:
        filters.append({"Name": "instance-state-name", "Values": list(LIVE_STATES)})
    out: list[FleetInstance] = []
    with aws_errors("listing fleet instances"):
        for page in ec2.get_paginator("describe_instances").paginate(Filters=filters):
            for reservation in page.get("Reservations", []):
                out.extend(_instance(raw) for raw in reservation.get("Instances", []))
    # The filter asked the endpoint; the tag is checked here again all the same.
    return sorted((i for i in out if i.fleet_id and (i.fleet_id == fleet_id or not fleet_id)
                   and (i.owner == owner or not owner)),
                  key=lambda i: (i.fleet_id, i.launch_time, i.id))


def terminate(ec2: Any, fleet_id: str = "", owner: str = "") -> list[FleetInstance]:
    """Terminate the live instances of fleet `fleet_id`, or of every fleet of `owner`
    (an ARN), and return them; one of the two must be given (a shared account's other
    fleets are not ours to end), and an instance without streamperf's fleet tag is
    never touched."""
    if not fleet_id and not owner:
        raise FleetError("terminating needs a fleet id or an owner: never every fleet")
    doomed = [i for i in fleet_instances(ec2, fleet_id, owner=owner) if i.fleet_id]
    for start in range(0, len(doomed), 500):
        batch = [i.id for i in doomed[start:start + 500]]
        with aws_errors(f"terminating {len(batch)} instance(s)"):
            ec2.terminate_instances(InstanceIds=batch)
    return doomed


def wait_running(ec2: Any, fleet_id: str, count: int, timeout_s: float,
                 poll_s: float = 2.0, sleep: Callable[[float], None] = time.sleep,
                 ) -> list[FleetInstance]:
    """Until `count` instances of the fleet run; FleetError when one dies or time is up."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = fleet_instances(ec2, fleet_id, include_gone=True)
        dead = [i for i in found if i.state in GONE_STATES]
        if dead:
            raise FleetError(f"fleet {fleet_id}: instance {dead[0].id} is {dead[0].state} "
                             "before it ran (see its console output in the EC2 console)")
        running = [i for i in found if i.state == "running"]
        if len(running) >= count:
            return running
        if time.monotonic() > deadline:
            raise FleetError(f"fleet {fleet_id}: {len(running)} of {count} instances running "
                             f"after {timeout_s:g} s")
        sleep(poll_s)


def console_output(ec2: Any, instance_id: str) -> str:
    """The instance's serial console text so far ('' when there is none yet)."""
    with aws_errors(f"console output of {instance_id}"):
        answer = ec2.get_console_output(InstanceId=instance_id)
    return str(answer.get("Output") or "")
