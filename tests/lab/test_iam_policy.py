"""`lab serve --iam-policy`: the daemon's credentials limited to an IAM policy, evaluated by the
lab (resource ARNs, aws:RequestTag/aws:ResourceTag/aws:TagKeys, ec2:CreateAction,
iam:PassRole), and what moto's own access control would have done instead."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.lab.test_world_support import error_of
from vpnwatch.adapters.aws import AwsAccessDenied, AwsClient
from vpnwatch.adapters.dynamodb import DynamoTable
from vpnwatch.config import AwsConfig
from vpnwatch.lab.clients import lab_client
from vpnwatch.lab.iam_policy import IdentityPolicy
from vpnwatch.lab.lock_table import create_lock_table
from vpnwatch.lab.world import LabWorld
from vpnwatch.statestore.dynamo import DynamoStateStore
from vpnwatch.statestore.dynamo_lease import DynamoLease
from vpnwatch.vocabulary import Mode

POLICY = Path(__file__).resolve().parents[2] / "deploy" / "iam" / "policy.json"


def test_evaluation_follows_iam_rules() -> None:
    policy = IdentityPolicy(
        {
            "Statement": [
                {"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"},
                {
                    "Effect": "Allow",
                    "Action": "ec2:CreateTags",
                    "Resource": "arn:aws:ec2:*:*:instance/*",
                    "Condition": {
                        "ForAllValues:StringLike": {"aws:TagKeys": ["vpnwatch:heal-*"]},
                        "StringEquals": {"aws:ResourceTag/managed": "true"},
                    },
                },
                {"Effect": "Deny", "Action": "ec2:DescribeRegions", "Resource": "*"},
                {
                    "Effect": "Allow",
                    "Action": "ec2:RebootInstances",
                    "Resource": "*",
                    "Condition": {"StringEqualsIfExists": {"aws:ResourceTag/team": "net"}},
                },
            ]
        }
    )
    arn = "arn:aws:ec2:us-east-1:123456789012:instance/i-1"
    managed = {"aws:resourcetag/managed": ("true",)}
    assert policy.decide("ec2:DescribeInstances", "*", {})[0]
    assert policy.decide("ec2:DescribeRegions", "*", {}) == (False, "explicitly denied by #3")
    tags = {**managed, "aws:tagkeys": ("vpnwatch:heal-id",)}
    assert policy.decide("ec2:CreateTags", arn, tags)[0]
    assert not policy.decide("ec2:CreateTags", arn, {**tags, "aws:tagkeys": ("Name",)})[0]
    assert not policy.decide("ec2:CreateTags", arn, {"aws:tagkeys": ("vpnwatch:heal-id",)})[0]
    assert not policy.decide("ec2:CreateTags", "arn:aws:ec2:us-east-1:1:volume/v", tags)[0]
    assert policy.decide("ec2:RebootInstances", arn, {})[0]  # IfExists: no such tag is fine
    assert not policy.decide("ec2:RebootInstances", arn, {"aws:resourcetag/team": ("x",)})[0]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabWorld]:
    lab = LabWorld(tmp_path_factory.mktemp("iam"), routers=False, iam_policy=POLICY)
    lab.start()
    try:
        yield lab
    finally:
        lab.stop()


def daemon_ec2(world: LabWorld) -> Any:
    env = world.daemon_environ()
    return boto3.client(
        "ec2", endpoint_url=world.endpoint_url, region_name="us-east-1",
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )  # fmt: skip


def twin_args(world: LabWorld, *kinds: str) -> dict[str, Any]:
    router = world.topology.router("spoke1-r1")
    site = world.topology.site("spoke1")
    tags = [{"Key": "vpnwatch:managed", "Value": "true"}]
    return {
        "ImageId": router.image_id, "InstanceType": "t3.small", "MinCount": 1, "MaxCount": 1,
        "SubnetId": site.subnet_id, "SecurityGroupIds": [site.security_group_id],
        "KeyName": site.key_name, "IamInstanceProfile": {"Name": "vpnwatch-router"},
        "TagSpecifications": [{"ResourceType": k, "Tags": tags} for k in kinds], "DryRun": True,
    }  # fmt: skip


def test_the_deploy_policy_needs_tags_on_the_instance_its_volumes_and_its_interface(
    world: LabWorld,
) -> None:
    ec2 = daemon_ec2(world)
    ec2.describe_instances()  # reads on every resource
    denied = ("UnauthorizedOperation", 403)
    assert world.iam is not None
    assert error_of(lambda: ec2.run_instances(**twin_args(world, "instance"))) == denied
    assert "network-interface/*" in world.iam.refusals[-1]
    no_volume_tags = twin_args(world, "instance", "network-interface")
    assert error_of(lambda: ec2.run_instances(**no_volume_tags)) == denied
    assert "volume/*" in world.iam.refusals[-1]
    every = twin_args(world, "instance", "volume", "network-interface")
    assert error_of(lambda: ec2.run_instances(**every)) == ("DryRunOperation", 412)


def test_the_deploy_policy_only_touches_managed_instances(world: LabWorld) -> None:
    ec2 = daemon_ec2(world)
    managed = world.topology.router("hub-r1").instance_id
    no_check = {"Value": False}
    allowed = ec2.modify_instance_attribute  # DryRun: permission only
    assert error_of(lambda: allowed(InstanceId=managed, SourceDestCheck=no_check, DryRun=True)) == (
        "DryRunOperation", 412,
    )  # fmt: skip
    lab = lab_client("ec2", world.endpoint_url)
    lab.delete_tags(Resources=[managed], Tags=[{"Key": "vpnwatch:managed"}])
    try:
        assert error_of(
            lambda: allowed(InstanceId=managed, SourceDestCheck=no_check, DryRun=True)
        ) == ("UnauthorizedOperation", 403)
    finally:
        lab.create_tags(Resources=[managed], Tags=[{"Key": "vpnwatch:managed", "Value": "true"}])
    # the lab's own credentials are not the daemon's: never restricted
    lab.modify_instance_attribute(InstanceId=managed, SourceDestCheck=no_check)


def test_the_deploy_policy_reads_maintenance_everywhere_and_applies_it_only_when_managed(
    world: LabWorld,
) -> None:
    ec2 = daemon_ec2(world)
    conn = world.topology.connections_of("spoke1-r1")[0]
    ip = conn.tunnels[0].outside_ip
    tunnel = {"VpnConnectionId": conn.id, "VpnTunnelOutsideIpAddress": ip}

    def apply() -> Any:  # DryRun: permission only, the endpoint is not replaced
        return ec2.replace_vpn_tunnel(**tunnel, ApplyPendingMaintenance=True, DryRun=True)

    assert ec2.get_vpn_tunnel_replacement_status(**tunnel)["VpnConnectionId"] == conn.id
    assert error_of(apply) == ("DryRunOperation", 412)
    lab = lab_client("ec2", world.endpoint_url)
    lab.delete_tags(Resources=[conn.id], Tags=[{"Key": "vpnwatch:managed"}])
    try:
        assert error_of(apply) == ("UnauthorizedOperation", 403)
        assert world.iam is not None
        assert f"vpn-connection/{conn.id}" in world.iam.refusals[-1]
        # reading needs no tag: maintenance awareness works on every connection
        assert ec2.get_vpn_tunnel_replacement_status(**tunnel)["VpnTunnelOutsideIpAddress"] == ip
    finally:
        lab.create_tags(Resources=[conn.id], Tags=[{"Key": "vpnwatch:managed", "Value": "true"}])
    assert error_of(apply) == ("DryRunOperation", 412)
    assert world.aws.maintenance.view(conn.id, ip)["last_applied"] is None  # nothing applied


def test_the_deploy_policy_lets_a_pair_use_its_lock_table_and_no_other(
    world: LabWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real lease and table store, signed as the daemon's principal: every call they make
    (GetItem, UpdateItem, PutItem, Query, TransactWriteItems as ConditionCheck + Put) is
    allowed on `vpnwatch-lock`, and the same calls on another table are refused."""
    assert world.iam is not None
    create_lock_table(world.endpoint_url, "us-east-1", "vpnwatch-lock")
    create_lock_table(world.endpoint_url, "us-east-1", "someone-elses-table")
    for name, value in world.daemon_environ().items():
        monkeypatch.setenv(name, value)
    aws = AwsClient(AwsConfig(region="us-east-1", endpoint_url=world.endpoint_url, max_attempts=1))
    try:
        refused_before = len(world.iam.refusals)
        table = DynamoTable(aws, "us-east-1", "vpnwatch-lock")
        lease = DynamoLease(table, holder="host-a", lease_seconds=15, renew_every=5, margin=1.5)
        fence = lease.acquire()
        assert fence is not None and fence.token == 1
        store = DynamoStateStore(table, lease)
        store.audit({"time": 1.0, "event": "test"}, fence=fence)
        store.confirm(fence)
        assert store.read(Mode.LIVE).problems == ()
        assert [e["event"] for e in store.audit_trail()] == ["test"]
        lease.release()
        assert world.iam.refusals[refused_before:] == []
        other = DynamoTable(aws, "us-east-1", "someone-elses-table")
        with pytest.raises(AwsAccessDenied):
            other.get("lease", "leader")
        assert "dynamodb:GetItem on resource: " in world.iam.refusals[-1]
        assert world.iam.refusals[-1].endswith("table/someone-elses-table")
        refused = len(world.iam.refusals)
        stranger = DynamoLease(other, holder="host-a", lease_seconds=15, renew_every=5, margin=1.5)
        assert stranger.acquire() is None  # a lease it may not read is a lease it does not hold
        assert len(world.iam.refusals) > refused
    finally:
        aws.close()
