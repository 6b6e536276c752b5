"""A local EC2 endpoint for fleet tests: moto's server on loopback, reached by real
boto3 HTTP calls (the cloud is the one part that cannot run here).

The credentials set here are moto's documented dummy values ("testing"); no
AWS account is involved and no request leaves 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

REGION = "us-east-1"
#: Instances get private addresses in this subnet: loopback, where nothing answers on
#: port 22, so an SSH attempt is refused at once and never leaves the machine.
SUBNET_CIDR = "127.0.77.0/24"


@dataclass(frozen=True)
class LocalEc2:
    endpoint: str
    image_id: str
    subnet: str
    security_group: str

    @property
    def env(self) -> dict[str, str]:
        return aws_env(self.endpoint)

    def client(self) -> Any:
        import boto3

        return boto3.session.Session().client("ec2", region_name=REGION,
                                               endpoint_url=self.endpoint)


def aws_env(endpoint: str) -> dict[str, str]:
    """Environment for boto3 to talk to `endpoint` with moto's dummy credentials only."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",  # moto's dummy values, not a credential
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": os.devnull,  # nothing from a real ~/.aws is read
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }


@contextlib.contextmanager
def local_ec2(subnet_cidr: str = SUBNET_CIDR) -> Iterator[LocalEc2]:
    """moto's server in a thread on a free loopback port, with a VPC, subnet and
    security group; stopped through its handle."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        with use_env(aws_env(endpoint)):
            import boto3

            ec2 = boto3.session.Session().client("ec2", region_name=REGION)
            vpc = ec2.create_vpc(CidrBlock="127.0.0.0/16")["Vpc"]["VpcId"]
            subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=subnet_cidr)["Subnet"]["SubnetId"]
            sg = ec2.create_security_group(GroupName="streamperf-test", Description="test",
                                           VpcId=vpc)["GroupId"]
            image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        yield LocalEc2(endpoint, image, subnet, sg)
    finally:
        server.stop()


@contextlib.contextmanager
def use_env(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
