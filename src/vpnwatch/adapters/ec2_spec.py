"""An instance's whole launch spec, read from EC2's answers, and the RunInstances that
launches its twin (DESIGN §5). Pure: no calls here (`ec2_actions` makes them).

Captured: AMI, type, subnet, private IP, security groups, key pair, instance profile, user
data (raw, base64 as EC2 returns it), every EBS volume (size, type, IOPS, throughput,
encryption and KMS key, delete-on-termination), metadata options, placement (tenancy,
group), credit spec, EBS-optimized, monitoring, shutdown behaviour, termination and stop
protection, tags; and what a same-IP twin could not reproduce: secondary private IPs, IPv6
addresses, further interfaces, Elastic IPs, VPC routes that point at the instance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

HEAL_TAG = "vpnwatch:heal-id"
_METADATA_KEYS = (
    "HttpTokens", "HttpPutResponseHopLimit", "HttpEndpoint", "HttpProtocolIpv6",
    "InstanceMetadataTags",
)  # fmt: skip


@dataclass(frozen=True)
class Volume:
    device_name: str
    volume_id: str
    size: int
    volume_type: str
    iops: int | None
    throughput: int | None
    encrypted: bool
    kms_key_id: str | None
    delete_on_termination: bool


@dataclass(frozen=True)
class RouteTarget:
    """A VPC route that sends traffic to the instance (or its interface)."""

    route_table_id: str
    destination: str  # a CIDR (v4 or v6) or a prefix list id
    kind: str  # "DestinationCidrBlock" | "DestinationIpv6CidrBlock" | "DestinationPrefixListId"


@dataclass(frozen=True)
class LaunchSpec:
    instance_id: str
    image_id: str
    instance_type: str
    subnet_id: str
    vpc_id: str
    private_ip: str
    security_group_ids: tuple[str, ...]
    key_name: str | None
    iam_instance_profile_arn: str | None
    user_data_b64: str | None
    disable_api_termination: bool
    eni_id: str
    eni_attachment_id: str | None
    eni_delete_on_termination: bool = True
    disable_api_stop: bool = False
    shutdown_behavior: str = "stop"
    root_device_name: str = "/dev/xvda"
    volumes: tuple[Volume, ...] = ()
    metadata_options: Mapping[str, Any] = field(default_factory=dict)
    tenancy: str = "default"
    placement_group: str | None = None
    credit_specification: str | None = None
    ebs_optimized: bool = False
    monitoring: bool = False
    secondary_private_ips: tuple[str, ...] = ()
    ipv6_addresses: tuple[str, ...] = ()
    other_interfaces: tuple[str, ...] = ()
    elastic_ips: tuple[str, ...] = ()
    routes: tuple[RouteTarget, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, tuple):
                data[key] = list(value)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LaunchSpec:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["volumes"] = tuple(Volume(**v) for v in data.get("volumes", ()))
        values["routes"] = tuple(RouteTarget(**r) for r in data.get("routes", ()))
        for key in ("security_group_ids", "secondary_private_ips", "ipv6_addresses",
                    "other_interfaces", "elastic_ips"):  # fmt: skip
            values[key] = tuple(data.get(key, ()))
        values["tags"] = dict(data.get("tags", {}))
        values["metadata_options"] = dict(data.get("metadata_options", {}))
        return cls(**values)

    @property
    def root_volume(self) -> Volume | None:
        return next((v for v in self.volumes if v.device_name == self.root_device_name), None)

    @property
    def extra_volumes(self) -> tuple[Volume, ...]:
        return tuple(v for v in self.volumes if v.device_name != self.root_device_name)


@dataclass(frozen=True)
class AddressInfo:
    allocation_id: str
    public_ip: str
    instance_id: str | None
    eni_id: str | None
    private_ip: str | None = None


# ---------------------------------------------------------------- reading EC2's answers


def _flag(answer: Mapping[str, Any], key: str, default: Any = False) -> Any:
    return (answer.get(key) or {}).get("Value", default)


def primary_interface(item: Mapping[str, Any]) -> Mapping[str, Any] | None:
    return next(
        (n for n in item.get("NetworkInterfaces", [])
         if n.get("Attachment", {}).get("DeviceIndex", 0) == 0),
        None,
    )  # fmt: skip


def spec_from(
    item: Mapping[str, Any],
    attributes: Mapping[str, Mapping[str, Any]],
    volumes: Sequence[Mapping[str, Any]],
    credit: str | None,
    addresses: Sequence[AddressInfo],
    route_tables: Sequence[Mapping[str, Any]],
) -> LaunchSpec:
    """The spec of one instance from DescribeInstances, its attributes (by name), its
    volumes, its credit spec, the Elastic IPs on its interfaces and its VPC's route tables."""
    primary = primary_interface(item)
    if primary is None:
        raise ValueError(f"instance {item.get('InstanceId')} has no primary network interface")
    instance_id = str(item["InstanceId"])
    eni_ids = {str(n["NetworkInterfaceId"]) for n in item.get("NetworkInterfaces", [])}
    by_id = {v["VolumeId"]: v for v in volumes}
    vols = []
    for mapping in item.get("BlockDeviceMappings", []):
        ebs = mapping.get("Ebs")
        if not ebs:
            continue
        v = by_id.get(ebs["VolumeId"], {})
        vols.append(
            Volume(
                device_name=mapping["DeviceName"], volume_id=ebs["VolumeId"],
                size=int(v.get("Size", 8)), volume_type=str(v.get("VolumeType", "gp3")),
                iops=v.get("Iops") if v.get("VolumeType") in ("io1", "io2", "gp3") else None,
                throughput=v.get("Throughput") if v.get("VolumeType") == "gp3" else None,
                encrypted=bool(v.get("Encrypted", False)), kms_key_id=v.get("KmsKeyId"),
                delete_on_termination=bool(ebs.get("DeleteOnTermination", True)),
            )
        )  # fmt: skip
    root = str(item.get("RootDeviceName") or (vols[0].device_name if vols else "/dev/xvda"))
    if vols and root not in {v.device_name for v in vols}:
        root = vols[0].device_name  # moto reports /dev/sda1 for an AMI rooted at /dev/xvda
    routes = []
    for table in route_tables:
        for route in table.get("Routes", []):
            if (
                route.get("InstanceId") != instance_id
                and route.get("NetworkInterfaceId") not in eni_ids
            ):
                continue
            for kind in ("DestinationCidrBlock", "DestinationIpv6CidrBlock",
                         "DestinationPrefixListId"):  # fmt: skip
                if route.get(kind):
                    routes.append(RouteTarget(str(table["RouteTableId"]), str(route[kind]), kind))
                    break
    placement = item.get("Placement", {})
    profile = item.get("IamInstanceProfile") or {}
    tags = {t["Key"]: t["Value"] for t in item.get("Tags", []) if not t["Key"].startswith("aws:")}
    tags.pop(HEAL_TAG, None)
    metadata = item.get("MetadataOptions", {})
    return LaunchSpec(
        instance_id=instance_id,
        image_id=str(item["ImageId"]),
        instance_type=str(item["InstanceType"]),
        subnet_id=str(item["SubnetId"]),
        vpc_id=str(item.get("VpcId", "")),
        private_ip=str(item["PrivateIpAddress"]),
        security_group_ids=tuple(sorted(g["GroupId"] for g in primary.get("Groups", [])))
        or tuple(sorted(g["GroupId"] for g in item.get("SecurityGroups", []))),
        key_name=item.get("KeyName"),
        iam_instance_profile_arn=profile.get("Arn"),
        user_data_b64=_flag(attributes.get("userData", {}), "UserData", None),
        disable_api_termination=bool(
            _flag(attributes.get("disableApiTermination", {}), "DisableApiTermination")
        ),
        disable_api_stop=bool(_flag(attributes.get("disableApiStop", {}), "DisableApiStop")),
        shutdown_behavior=str(
            _flag(
                attributes.get("instanceInitiatedShutdownBehavior", {}),
                "InstanceInitiatedShutdownBehavior",
                "stop",
            )
        ),
        eni_id=str(primary["NetworkInterfaceId"]),
        eni_attachment_id=primary.get("Attachment", {}).get("AttachmentId"),
        eni_delete_on_termination=bool(
            primary.get("Attachment", {}).get("DeleteOnTermination", True)
        ),
        root_device_name=root,
        volumes=tuple(vols),
        metadata_options={k: metadata[k] for k in _METADATA_KEYS if k in metadata},
        tenancy=str(placement.get("Tenancy", "default")),
        placement_group=placement.get("GroupName") or None,
        credit_specification=credit,
        ebs_optimized=bool(item.get("EbsOptimized", False)),
        monitoring=item.get("Monitoring", {}).get("State") in ("enabled", "pending"),
        secondary_private_ips=tuple(
            a["PrivateIpAddress"]
            for a in primary.get("PrivateIpAddresses", [])
            if not a.get("Primary", False)
        ),
        ipv6_addresses=tuple(
            a["Ipv6Address"]
            for n in item.get("NetworkInterfaces", [])
            for a in n.get("Ipv6Addresses", [])
        ),
        other_interfaces=tuple(sorted(eni_ids - {str(primary["NetworkInterfaceId"])})),
        elastic_ips=tuple(sorted({a.public_ip for a in addresses})),
        routes=tuple(routes),
        tags=tags,
    )


# ---------------------------------------------------------------- launching a twin


def _tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def run_instances_args(
    spec: LaunchSpec,
    *,
    image_id: str,
    root_device_name: str,
    user_data: bytes | None,
    heal_id: str,
    keep_eni: bool,
) -> dict[str, Any]:
    """RunInstances for a twin of `spec` (no ClientToken, no DryRun): the caller adds them."""
    tag_specs = [
        {"ResourceType": "instance", "Tags": _tag_list({**spec.tags, HEAL_TAG: heal_id})},
        {"ResourceType": "volume", "Tags": _tag_list(spec.tags)},
    ]
    args: dict[str, Any] = {
        "ImageId": image_id,
        "InstanceType": spec.instance_type,
        "MinCount": 1,
        "MaxCount": 1,
        "EbsOptimized": spec.ebs_optimized,
        "Monitoring": {"Enabled": spec.monitoring},
        "InstanceInitiatedShutdownBehavior": spec.shutdown_behavior,
        "DisableApiTermination": spec.disable_api_termination,
        "DisableApiStop": spec.disable_api_stop,
        "Placement": {"Tenancy": spec.tenancy},
    }
    if spec.placement_group:
        args["Placement"]["GroupName"] = spec.placement_group
    if keep_eni:
        args["NetworkInterfaces"] = [{"DeviceIndex": 0, "NetworkInterfaceId": spec.eni_id}]
    else:
        args["SubnetId"] = spec.subnet_id
        args["PrivateIpAddress"] = spec.private_ip
        args["SecurityGroupIds"] = list(spec.security_group_ids)
        tag_specs.append({"ResourceType": "network-interface", "Tags": _tag_list(spec.tags)})
    args["TagSpecifications"] = tag_specs
    root = spec.root_volume
    if root is not None:
        ebs: dict[str, Any] = {
            "VolumeSize": root.size,
            "VolumeType": root.volume_type,
            "DeleteOnTermination": root.delete_on_termination,
            "Encrypted": root.encrypted,
        }
        if root.iops is not None:
            ebs["Iops"] = root.iops
        if root.throughput is not None:
            ebs["Throughput"] = root.throughput
        if root.encrypted and root.kms_key_id:
            ebs["KmsKeyId"] = root.kms_key_id
        args["BlockDeviceMappings"] = [{"DeviceName": root_device_name, "Ebs": ebs}]
    if spec.metadata_options:
        args["MetadataOptions"] = dict(spec.metadata_options)
    if spec.credit_specification:
        args["CreditSpecification"] = {"CpuCredits": spec.credit_specification}
    if spec.key_name:
        args["KeyName"] = spec.key_name
    if spec.iam_instance_profile_arn:
        args["IamInstanceProfile"] = {"Arn": spec.iam_instance_profile_arn}
    if user_data:
        args["UserData"] = user_data
    return args
