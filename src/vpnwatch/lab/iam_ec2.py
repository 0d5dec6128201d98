"""What an EC2 request is authorized against, for the lab's restricted principal.

From the Service Authorization Reference for Amazon EC2 ("Actions, resources, and condition
keys") and the EC2 User Guide's example policies:
- RunInstances authorizes the image, the subnet, each security group, the key pair, the
  instance and its volume(s) (created: `aws:RequestTag/*` and `aws:TagKeys` from the
  TagSpecifications *for that resource type*), and the network interface (created: its
  RequestTags; existing: its `aws:ResourceTag/*`); each tagged resource type is also a
  CreateTags with `ec2:CreateAction=RunInstances`; an instance profile needs `iam:PassRole`
  on its role with `iam:PassedToService=ec2.amazonaws.com`.
- Instance actions (Terminate, Reboot, Stop, Start, ModifyInstanceAttribute,
  DescribeInstanceAttribute, GetConsoleOutput) authorize the instance; AssociateAddress the
  Elastic IP and the instance or interface; ModifyNetworkInterfaceAttribute the interface;
  ReplaceRoute the route table; CreateTags each resource (ResourceTags, RequestTags, TagKeys).
- Other Describe* calls authorize `*`.
DryRun requests are authorized the same way (then answered DryRunOperation).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from vpnwatch.lab import moto_instances as mi
from vpnwatch.lab.launch_checks import tag_specifications
from vpnwatch.lab.moto_state import ec2_backend, tags_of

_INDEXED = re.compile(r"^(?P<name>[A-Za-z]+)\.(?P<n>\d+)$")
_RESOURCE_KIND = {
    "i": "instance", "vol": "volume", "eni": "network-interface", "eipalloc": "elastic-ip",
    "rtb": "route-table", "sg": "security-group", "subnet": "subnet", "ami": "image",
    "vpc": "vpc", "cgw": "customer-gateway", "vpn": "vpn-connection",
}  # fmt: skip
_INSTANCE_ACTIONS = frozenset(
    {
        "TerminateInstances", "RebootInstances", "StopInstances", "StartInstances",
        "ModifyInstanceAttribute", "DescribeInstanceAttribute", "GetConsoleOutput",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Check:
    action: str  # "ec2:RunInstances"
    resource: str  # ARN
    context: Mapping[str, tuple[str, ...]]


class Arns:
    def __init__(self, region: str, account: str) -> None:
        self.region, self.account = region, account

    def of(self, kind: str, ident: str) -> str:
        if kind == "image":
            return f"arn:aws:ec2:{self.region}::image/{ident}"
        return f"arn:aws:ec2:{self.region}:{self.account}:{kind}/{ident}"


def _values(params: Mapping[str, str], name: str) -> list[str]:
    found = []
    for key, value in params.items():
        match = _INDEXED.match(key)
        if match and match.group("name") == name:
            found.append((int(match.group("n")), value))
    single = params.get(name)
    return [v for _, v in sorted(found)] + ([single] if single else [])


def resource_tags(region: str, kind: str, ident: str) -> dict[str, str]:
    backend = ec2_backend(region)
    if kind == "elastic-ip":
        found = next((a for a in backend.addresses if a.allocation_id == ident), None)
        return tags_of(found) if found is not None else {}
    return dict(backend.tags.get(ident, {}))


def _existing(region: str, arns: Arns, kind: str, ident: str, action: str) -> Check:
    tags = resource_tags(region, kind, ident)
    context = {f"aws:resourcetag/{k}".lower(): (v,) for k, v in tags.items()}
    return Check(action, arns.of(kind, ident), context)


def _request_tags(tags: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    context: dict[str, tuple[str, ...]] = {
        f"aws:requesttag/{k}".lower(): (v,) for k, v in tags.items()
    }
    if tags:
        context["aws:tagkeys"] = tuple(tags)
    return context


def _run_instances(region: str, arns: Arns, params: Mapping[str, str]) -> list[Check]:
    run, specs = "ec2:RunInstances", tag_specifications(params)
    checks = [Check(run, arns.of("image", params.get("ImageId", "")), {})]
    subnet = params.get("SubnetId") or params.get("NetworkInterface.1.SubnetId")
    existing_eni = params.get("NetworkInterface.1.NetworkInterfaceId")
    if existing_eni:
        checks.append(_existing(region, arns, "network-interface", existing_eni, run))
        subnet = subnet or _eni_subnet(region, existing_eni)
    else:
        checks.append(
            Check(
                run,
                arns.of("network-interface", "*"),
                _request_tags(specs.get("network-interface", {})),
            )
        )
    if subnet:
        checks.append(Check(run, arns.of("subnet", subnet), {}))
    for group in [*_values(params, "SecurityGroupId"), *_group_ids(params)]:
        checks.append(Check(run, arns.of("security-group", group), {}))
    if params.get("KeyName"):
        checks.append(Check(run, arns.of("key-pair", params["KeyName"]), {}))
    for kind in ("instance", "volume"):
        checks.append(Check(run, arns.of(kind, "*"), _request_tags(specs.get(kind, {}))))
    for kind, tags in specs.items():
        context = {**_request_tags(tags), "ec2:createaction": ("RunInstances",)}
        checks.append(Check("ec2:CreateTags", arns.of(kind, "*"), context))
    role = _profile_role(params)
    if role is not None:
        checks.append(Check("iam:PassRole", role, {"iam:passedtoservice": ("ec2.amazonaws.com",)}))
    return checks


def _group_ids(params: Mapping[str, str]) -> list[str]:
    return [
        v for k, v in params.items() if re.match(r"^NetworkInterface\.1\.SecurityGroupId\.\d+$", k)
    ]


def _eni_subnet(region: str, eni_id: str) -> str | None:
    eni = ec2_backend(region).enis.get(eni_id)
    return str(eni.subnet.id) if eni is not None else None


def _profile_role(params: Mapping[str, str]) -> str | None:
    """The role ARN an instance profile passes to EC2 (None: no profile given)."""
    arn, name = params.get("IamInstanceProfile.Arn"), params.get("IamInstanceProfile.Name")
    if not arn and not name:
        return None
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.iam.models import iam_backends

    backend = iam_backends[DEFAULT_ACCOUNT_ID]["aws"]
    try:
        profile = (
            backend.get_instance_profile_by_arn(arn)
            if arn
            else backend.get_instance_profile(name or "")
        )
    except Exception:  # unknown profile: EC2 refuses the launch itself
        return "arn:aws:iam::unknown:role/unknown"
    roles = list(getattr(profile, "roles", []))
    return str(roles[0].arn) if roles else "arn:aws:iam::unknown:role/none"


def _create_tags(region: str, arns: Arns, params: Mapping[str, str]) -> list[Check]:
    tags = {}
    i = 1
    while f"Tag.{i}.Key" in params:
        tags[params[f"Tag.{i}.Key"]] = params.get(f"Tag.{i}.Value", "")
        i += 1
    checks = []
    for ident in _values(params, "ResourceId"):
        kind = _RESOURCE_KIND.get(ident.split("-", 1)[0], "instance")
        check = _existing(region, arns, kind, ident, "ec2:CreateTags")
        checks.append(Check(check.action, check.resource, {**check.context, **_request_tags(tags)}))
    return checks


def checks_for(region: str, account: str, action: str, params: Mapping[str, str]) -> list[Check]:
    """Every (action, resource, context) an EC2 request is authorized against."""
    arns = Arns(region, account)
    full = f"ec2:{action}"
    if action == "RunInstances":
        return _run_instances(region, arns, params)
    if action == "CreateTags":
        return _create_tags(region, arns, params)
    if action in _INSTANCE_ACTIONS:
        ids = [
            *mi.instance_ids(params),
            *([params["InstanceId"]] if "InstanceId" in params else []),
        ]
        return [_existing(region, arns, "instance", i, full) for i in ids]
    if action == "AssociateAddress":
        checks = [_existing(region, arns, "elastic-ip", params.get("AllocationId", ""), full)]
        if params.get("InstanceId"):
            checks.append(_existing(region, arns, "instance", params["InstanceId"], full))
        if params.get("NetworkInterfaceId"):
            eni = params["NetworkInterfaceId"]
            checks.append(_existing(region, arns, "network-interface", eni, full))
        return checks
    if action == "ModifyNetworkInterfaceAttribute":
        eni = params.get("NetworkInterfaceId", "")
        return [_existing(region, arns, "network-interface", eni, full)]
    if action == "ReplaceRoute":
        table = params.get("RouteTableId", "")
        return [_existing(region, arns, "route-table", table, full)]
    return [Check(full, "*", {})]


Decide = Callable[[str, str, Mapping[str, tuple[str, ...]]], tuple[bool, str]]


def denied(checks: Iterable[Check], decide: Decide) -> str | None:
    """The first check the policy refuses, as AWS words it (None: all allowed)."""
    for check in checks:
        allowed, _ = decide(check.action, check.resource, check.context)
        if not allowed:
            return f"not authorized to perform: {check.action} on resource: {check.resource}"
    return None
