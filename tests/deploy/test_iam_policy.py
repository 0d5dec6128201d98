"""deploy/iam/policy.json: valid IAM JSON, least privilege, every statement documented."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.deploy.common import DOCS, POLICY, REPO

READ_PREFIXES = ("Describe", "Get", "List")
TAG_KEYS = (
    "aws:ResourceTag/vpnwatch:managed",
    "aws:RequestTag/vpnwatch:managed",
    "ec2:CreateAction",
)
# RunInstances also authorizes against these existing, untaggable-by-us resources.
LAUNCH_INPUTS = ("image/", "key-pair/", "security-group/", "subnet/")
PLACEHOLDERS = {
    "ACCOUNT_ID": "123456789012",
    "REGION": "us-east-1",
    "BACKUP_BUCKET": "example-vpnwatch-backups",
    "KMS_KEY_ID": "1234abcd-12ab-34cd-56ef-1234567890ab",
}


@pytest.fixture(scope="module")
def policy() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(POLICY.read_text(encoding="utf-8"))
    return data


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def is_read_only(action: str) -> bool:
    return action.split(":", 1)[1].startswith(READ_PREFIXES)


def condition_keys(statement: dict[str, Any]) -> set[str]:
    return {key for block in statement.get("Condition", {}).values() for key in block}


def test_policy_shape(policy: dict[str, Any]) -> None:
    assert policy["Version"] == "2012-10-17"
    sids = [s["Sid"] for s in policy["Statement"]]
    assert len(sids) == len(set(sids))
    for statement in policy["Statement"]:
        assert set(statement) <= {"Sid", "Effect", "Action", "Resource", "Condition"}
        assert statement["Effect"] == "Allow"
        for action in as_list(statement["Action"]):
            assert "*" not in action, f"{statement['Sid']}: wildcard action {action}"
            assert action.split(":")[0] in {"ec2", "iam", "s3", "kms", "dynamodb"}


def test_only_read_only_ec2_calls_run_on_every_resource(policy: dict[str, Any]) -> None:
    for statement in policy["Statement"]:
        if "*" in as_list(statement["Resource"]):
            assert all(is_read_only(a) for a in as_list(statement["Action"])), statement["Sid"]


def test_every_mutating_ec2_action_needs_the_managed_tag(policy: dict[str, Any]) -> None:
    mutating = set()
    for statement in policy["Statement"]:
        actions = [a for a in as_list(statement["Action"]) if a.startswith("ec2:")]
        writes = [a for a in actions if not is_read_only(a)]
        if not writes:
            continue
        mutating.update(writes)
        resources = as_list(statement["Resource"])
        launch_inputs_only = writes == ["ec2:RunInstances"] and all(
            any(kind in r for kind in LAUNCH_INPUTS) for r in resources
        )
        if launch_inputs_only:
            continue
        keys = condition_keys(statement)
        assert keys & set(TAG_KEYS), f"{statement['Sid']}: {writes} without a tag condition"
        for key in keys & set(TAG_KEYS[:2]):
            values = [block[key] for block in statement["Condition"].values() if key in block]
            assert values == ["true"], statement["Sid"]
    assert mutating >= {
        "ec2:RebootInstances",
        "ec2:TerminateInstances",
        "ec2:ModifyInstanceAttribute",
        "ec2:ModifyNetworkInterfaceAttribute",
        "ec2:AssociateAddress",
        "ec2:CreateTags",
        "ec2:RunInstances",
    }


def test_run_instances_is_split_per_resource_type(policy: dict[str, Any]) -> None:
    launches = [s for s in policy["Statement"] if "ec2:RunInstances" in as_list(s["Action"])]
    assert len(launches) >= 3
    instance = [s for s in launches if any("instance/" in r for r in as_list(s["Resource"]))]
    assert [condition_keys(s) for s in instance] == [{"aws:RequestTag/vpnwatch:managed"}]
    tag_on_launch = [
        s
        for s in policy["Statement"]
        if as_list(s["Action"]) == ["ec2:CreateTags"] and "ec2:CreateAction" in condition_keys(s)
    ]
    assert tag_on_launch and tag_on_launch[0]["Condition"]["StringEquals"] == {
        "ec2:CreateAction": "RunInstances"
    }


def test_pass_role_is_limited_to_the_router_role_for_ec2(policy: dict[str, Any]) -> None:
    (statement,) = [s for s in policy["Statement"] if "iam:PassRole" in as_list(s["Action"])]
    assert as_list(statement["Action"]) == ["iam:PassRole"]
    assert statement["Resource"] == "arn:aws:iam::ACCOUNT_ID:role/vpnwatch-router"
    assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}


def test_storage_and_key_are_scoped(policy: dict[str, Any]) -> None:
    for statement in policy["Statement"]:
        service = as_list(statement["Action"])[0].split(":")[0]
        resources = as_list(statement["Resource"])
        if service == "s3":
            assert all(r.startswith("arn:aws:s3:::BACKUP_BUCKET") for r in resources)
            assert not any(
                a in as_list(statement["Action"]) for a in ("s3:DeleteBucket", "s3:PutBucketPolicy")
            )
        if service == "kms":
            assert resources == ["arn:aws:kms:REGION:ACCOUNT_ID:key/KMS_KEY_ID"]
            assert statement["Condition"]["StringEquals"]["kms:ViaService"].startswith("s3.")
        if service == "dynamodb":
            assert resources == ["arn:aws:dynamodb:REGION:ACCOUNT_ID:table/vpnwatch-lock"]


# TransactWriteItems has no IAM action of its own: each item is authorized as its kind.
TRANSACT_ITEM_ACTIONS = {"ConditionCheck": "ConditionCheckItem", "Put": "PutItem",
                         "Update": "UpdateItem", "Delete": "DeleteItem"}  # fmt: skip


def test_the_lock_table_gets_exactly_the_calls_the_adapter_makes(policy: dict[str, Any]) -> None:
    source = (REPO / "src" / "vpnwatch" / "adapters" / "dynamodb.py").read_text(encoding="utf-8")
    calls = set(re.findall(r'_call\(\s*"([a-z_]+)"', source))
    assert {"get_item", "query", "transact_write_items"} <= calls  # the pattern still matches
    needed = set()
    for call in calls - {"transact_write_items"}:
        needed.add("dynamodb:" + "".join(part.title() for part in call.split("_")))
    for kind in re.findall(r'\{"(ConditionCheck|Put|Update|Delete)": \{"TableName"', source):
        needed.add("dynamodb:" + TRANSACT_ITEM_ACTIONS[kind])
    (statement,) = [s for s in policy["Statement"] if s["Sid"] == "LeaderLockTable"]
    assert set(as_list(statement["Action"])) == needed


def test_every_statement_is_documented(policy: dict[str, Any]) -> None:
    text = (DOCS / "deploy.md").read_text(encoding="utf-8")
    missing = [s["Sid"] for s in policy["Statement"] if f"`{s['Sid']}`" not in text]
    assert missing == []


def test_parliament_finds_nothing_unexpected() -> None:
    """parliament knows every IAM action, resource type and condition key."""
    parliament = pytest.importorskip("parliament", reason="parliament is not installed")
    text = POLICY.read_text(encoding="utf-8")
    for placeholder, value in PLACEHOLDERS.items():
        text = text.replace(placeholder, value)
    findings = parliament.analyze_policy_string(text, include_community_auditors=True).findings
    unexpected = []
    for finding in findings:
        detail = json.dumps([finding.detail, finding.location], default=str)
        if finding.issue == "RESOURCE_MISMATCH" and "ec2:RunInstances" in detail:
            continue  # RunInstances is split per resource type on purpose
        if finding.issue == "PERMISSIONS_MANAGEMENT_ACTIONS" and "iam:passrole" in detail:
            continue  # scoped to one role and to EC2
        if finding.issue == "PRIVILEGE_ESCALATION" and "CreateEC2WithExistingIP" in detail:
            continue  # replacing a router is launching an instance with a role
        unexpected.append(f"{finding.issue}: {detail}")
    assert unexpected == []
    broken = text.replace('"ec2:RebootInstances"', '"ec2:RebootInstance"')
    issues = {f.issue for f in parliament.analyze_policy_string(broken).findings}
    assert "UNKNOWN_ACTION" in issues


def _launch_statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in policy["Statement"] if "ec2:RunInstances" in as_list(s["Action"])]


def test_the_twin_launch_tags_what_the_policy_demands_tags_on(policy: dict[str, Any]) -> None:
    """RunInstances with aws:RequestTag conditions per resource type needs TagSpecifications
    for each of those types, or AWS answers UnauthorizedOperation (EC2 example policies)."""
    from vpnwatch.adapters.ec2_spec import LaunchSpec, run_instances_args

    demanded = {
        r.split(":")[-1].split("/")[0]
        for s in _launch_statements(policy)
        if "aws:RequestTag/vpnwatch:managed" in condition_keys(s)
        for r in as_list(s["Resource"])
    }
    assert demanded == {"instance", "volume", "network-interface"}
    spec = LaunchSpec(
        instance_id="i-1", image_id="ami-1", instance_type="t3.small", subnet_id="subnet-1",
        vpc_id="vpc-1", private_ip="10.0.0.11", security_group_ids=("sg-1",), key_name=None,
        iam_instance_profile_arn=None, user_data_b64=None, disable_api_termination=False,
        eni_id="eni-1", eni_attachment_id=None, tags={"vpnwatch:managed": "true"},
    )  # fmt: skip
    for keep_eni in (False, True):
        args = run_instances_args(
            spec, image_id="ami-1", root_device_name="/dev/xvda", user_data=None, heal_id="h",
            keep_eni=keep_eni,
        )  # fmt: skip
        tagged = {t["ResourceType"] for t in args["TagSpecifications"]
                  if {"Key": "vpnwatch:managed", "Value": "true"} in t["Tags"]}  # fmt: skip
        created = demanded - ({"network-interface"} if keep_eni else set())
        assert created <= tagged, (keep_eni, tagged)


def test_every_ec2_call_vpnwatch_makes_is_in_the_policy(policy: dict[str, Any]) -> None:
    import re
    from pathlib import Path

    source = Path(__file__).resolve().parents[2] / "src" / "vpnwatch" / "adapters"
    text = "".join(p.read_text() for p in (source / "ec2_actions.py", source / "aws.py"))
    called = set(re.findall(r'(?:_call|_dry)\(\s*"([a-z_]+)"', text))
    called |= set(re.findall(r'"ec2", region, "([a-z_]+)"', text))
    allowed = {a for s in policy["Statement"] for a in as_list(s["Action"])}
    for operation in sorted(called):
        action = "ec2:" + "".join(w.capitalize() for w in operation.split("_"))
        assert action in allowed, f"{action} is called but not allowed by deploy/iam/policy.json"
    assert "iam:GetInstanceProfile" in allowed
