"""EC2 operations used by healing, on top of AwsClient (no boto3 import here).

Every operation is one API call (or a read) and is safe to repeat: the heal workflow checks
whether a step is already done before acting, and these calls are idempotent by nature
(terminate, associate with AllowReassociation) or by ClientToken (RunInstances).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vpnwatch.adapters.aws import AwsApiError, AwsClient

HEAL_TAG = "vpnwatch:heal-id"


@dataclass(frozen=True)
class LaunchSpec:
    """What it takes to launch a twin of an instance (captured before terminating it)."""

    image_id: str
    instance_type: str
    subnet_id: str
    private_ip: str
    security_group_ids: tuple[str, ...]
    key_name: str | None
    iam_instance_profile_arn: str | None
    user_data_b64: str | None
    disable_api_termination: bool
    eni_id: str
    eni_attachment_id: str | None
    tags: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "security_group_ids": list(self.security_group_ids),
            "tags": dict(self.tags),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LaunchSpec:
        return cls(
            **{
                **data,
                "security_group_ids": tuple(data["security_group_ids"]),
                "tags": dict(data["tags"]),
            }
        )


@dataclass(frozen=True)
class AddressInfo:
    allocation_id: str
    public_ip: str
    instance_id: str | None
    eni_id: str | None


class Ec2Actions:
    def __init__(self, aws: AwsClient, region: str) -> None:
        self._aws = aws
        self.region = region

    async def _call(self, operation: str, **kwargs: Any) -> Any:
        return await self._aws.call("ec2", self.region, operation, **kwargs)

    # ------------------------------------------------------------ reads

    async def instance(self, instance_id: str) -> Mapping[str, Any] | None:
        page = await self._call(
            "describe_instances", Filters=[{"Name": "instance-id", "Values": [instance_id]}]
        )
        found = [i for r in page.get("Reservations", []) for i in r.get("Instances", [])]
        return found[0] if found else None

    async def instances_tagged(self, key: str, value: str) -> list[Mapping[str, Any]]:
        page = await self._call(
            "describe_instances", Filters=[{"Name": f"tag:{key}", "Values": [value]}]
        )
        return [i for r in page.get("Reservations", []) for i in r.get("Instances", [])]

    async def capture_launch_spec(self, instance_id: str) -> LaunchSpec:
        item = await self.instance(instance_id)
        if item is None:
            raise AwsApiError("InvalidInstanceID.NotFound", f"instance {instance_id} not found")
        user_data = await self._call(
            "describe_instance_attribute", InstanceId=instance_id, Attribute="userData"
        )
        protection = await self._call(
            "describe_instance_attribute", InstanceId=instance_id, Attribute="disableApiTermination"
        )
        primary = next(
            (
                n
                for n in item.get("NetworkInterfaces", [])
                if n.get("Attachment", {}).get("DeviceIndex", 0) == 0
            ),
            None,
        )
        if primary is None:
            raise AwsApiError("MissingParameter", f"instance {instance_id} has no primary ENI")
        profile = item.get("IamInstanceProfile") or {}
        tags = {
            t["Key"]: t["Value"] for t in item.get("Tags", []) if not t["Key"].startswith("aws:")
        }
        tags.pop(HEAL_TAG, None)
        return LaunchSpec(
            image_id=item["ImageId"],
            instance_type=item["InstanceType"],
            subnet_id=item["SubnetId"],
            private_ip=item["PrivateIpAddress"],
            security_group_ids=tuple(sorted(g["GroupId"] for g in item.get("SecurityGroups", []))),
            key_name=item.get("KeyName"),
            iam_instance_profile_arn=profile.get("Arn"),
            user_data_b64=(user_data.get("UserData") or {}).get("Value"),
            disable_api_termination=bool(
                (protection.get("DisableApiTermination") or {}).get("Value", False)
            ),
            eni_id=primary["NetworkInterfaceId"],
            eni_attachment_id=primary.get("Attachment", {}).get("AttachmentId"),
            tags=tags,
        )

    async def address(self, public_ip: str) -> AddressInfo | None:
        page = await self._call(
            "describe_addresses", Filters=[{"Name": "public-ip", "Values": [public_ip]}]
        )
        for a in page.get("Addresses", []):
            return AddressInfo(
                a["AllocationId"], a["PublicIp"], a.get("InstanceId"), a.get("NetworkInterfaceId")
            )
        return None

    async def address_of_instance(self, instance_id: str) -> AddressInfo | None:
        page = await self._call(
            "describe_addresses", Filters=[{"Name": "instance-id", "Values": [instance_id]}]
        )
        for a in page.get("Addresses", []):
            return AddressInfo(
                a["AllocationId"], a["PublicIp"], a.get("InstanceId"), a.get("NetworkInterfaceId")
            )
        return None

    async def console_output(self, instance_id: str) -> str:
        page = await self._call("get_console_output", InstanceId=instance_id, Latest=True)
        text = page.get("Output") or ""
        return str(text)

    async def eni_delete_on_termination(self, eni_id: str) -> bool | None:
        page = await self._call("describe_network_interfaces", NetworkInterfaceIds=[eni_id])
        for eni in page.get("NetworkInterfaces", []):
            attachment = eni.get("Attachment")
            return None if attachment is None else bool(attachment.get("DeleteOnTermination"))
        return None

    async def eni_status(self, eni_id: str) -> str | None:
        page = await self._call("describe_network_interfaces", NetworkInterfaceIds=[eni_id])
        for eni in page.get("NetworkInterfaces", []):
            return str(eni.get("Status"))
        return None

    # ------------------------------------------------------------ mutations

    async def reboot(self, instance_id: str) -> None:
        await self._call("reboot_instances", InstanceIds=[instance_id])

    async def terminate(self, instance_id: str) -> None:
        await self._call("terminate_instances", InstanceIds=[instance_id])

    async def set_termination_protection(self, instance_id: str, enabled: bool) -> None:
        await self._call(
            "modify_instance_attribute",
            InstanceId=instance_id,
            DisableApiTermination={"Value": enabled},
        )

    async def keep_eni_on_termination(self, eni_id: str, attachment_id: str) -> None:
        await self._call(
            "modify_network_interface_attribute",
            NetworkInterfaceId=eni_id,
            Attachment={"AttachmentId": attachment_id, "DeleteOnTermination": False},
        )

    async def tag(self, resource_id: str, tags: Mapping[str, str]) -> None:
        await self._call(
            "create_tags",
            Resources=[resource_id],
            Tags=[{"Key": k, "Value": v} for k, v in sorted(tags.items())],
        )

    async def run_twin(
        self, spec: LaunchSpec, *, client_token: str, heal_id: str, keep_eni: bool
    ) -> str:
        """RunInstances for the replacement; idempotent through the ClientToken."""
        tags = {**spec.tags, HEAL_TAG: heal_id}
        args: dict[str, Any] = {
            "ImageId": spec.image_id,
            "InstanceType": spec.instance_type,
            "MinCount": 1,
            "MaxCount": 1,
            "ClientToken": client_token,
            "TagSpecifications": [
                {
                    "ResourceType": "instance",
                    "Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())],
                }
            ],
        }
        if keep_eni:
            args["NetworkInterfaces"] = [{"DeviceIndex": 0, "NetworkInterfaceId": spec.eni_id}]
        else:
            args["SubnetId"] = spec.subnet_id
            args["PrivateIpAddress"] = spec.private_ip
            args["SecurityGroupIds"] = list(spec.security_group_ids)
        if spec.key_name:
            args["KeyName"] = spec.key_name
        if spec.iam_instance_profile_arn:
            args["IamInstanceProfile"] = {"Arn": spec.iam_instance_profile_arn}
        if spec.user_data_b64:
            args["UserData"] = base64.b64decode(spec.user_data_b64).decode("utf-8", "replace")
        page = await self._call("run_instances", **args)
        return str(page["Instances"][0]["InstanceId"])

    async def disable_source_dest_check(self, instance_id: str) -> None:
        await self._call(
            "modify_instance_attribute", InstanceId=instance_id, SourceDestCheck={"Value": False}
        )

    async def source_dest_check(self, instance_id: str) -> bool:
        page = await self._call(
            "describe_instance_attribute", InstanceId=instance_id, Attribute="sourceDestCheck"
        )
        return bool((page.get("SourceDestCheck") or {}).get("Value", True))

    async def associate_eip(self, allocation_id: str, instance_id: str) -> None:
        await self._call(
            "associate_address",
            AllocationId=allocation_id,
            InstanceId=instance_id,
            AllowReassociation=True,
        )
