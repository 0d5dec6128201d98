"""What moto's own IAM access control does with deploy/iam/policy.json (moto 5.2.5), and so
why the lab evaluates the policy itself (docs/architecture.md, "The emulated world")."""

from __future__ import annotations

from pathlib import Path

import boto3
from moto.core.authorization import enable_iam_authentication

from tests.lab.test_world_support import error_of
from vpnwatch.lab.aws_world import EmulatedAws
from vpnwatch.lab.clients import lab_client

POLICY = Path(__file__).resolve().parents[2] / "deploy" / "iam" / "policy.json"


def test_moto_alone_would_deny_every_resource_scoped_statement() -> None:
    """Why the lab evaluates the policy itself (documented in docs/architecture.md): moto
    authorizes EC2 calls against resource `*` only, and ignores tag conditions."""
    with EmulatedAws() as aws:
        iam = lab_client("iam", aws.endpoint_url)
        iam.create_user(UserName="vpnwatch")
        iam.put_user_policy(
            UserName="vpnwatch", PolicyName="p", PolicyDocument=POLICY.read_text().replace(
                "ACCOUNT_ID", "123456789012").replace("REGION", "us-east-1"),
        )  # fmt: skip
        key = iam.create_access_key(UserName="vpnwatch")["AccessKey"]
        ec2 = boto3.client(
            "ec2", endpoint_url=aws.endpoint_url, region_name="us-east-1",
            aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"],
        )  # fmt: skip
        instance = lab_client("ec2", aws.endpoint_url).run_instances(
            ImageId="ami-12c6146b", MinCount=1, MaxCount=1,
            TagSpecifications=[{"ResourceType": "instance",
                                "Tags": [{"Key": "vpnwatch:managed", "Value": "true"}]}],
        )["Instances"][0]["InstanceId"]  # fmt: skip
        with enable_iam_authentication():
            ec2.describe_instances()  # Resource "*": moto allows it
            code, _ = error_of(
                lambda: ec2.reboot_instances(InstanceIds=[instance])
            )  # allowed by HealManagedInstances in real IAM
            assert code in ("UnauthorizedOperation", "AccessDenied")
