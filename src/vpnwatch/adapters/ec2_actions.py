"""EC2 operations used by healing, on top of AwsClient (no boto3 import here).

Every operation is one API call (or a few reads) and is safe to repeat: the heal workflows
check whether a step is already done before acting, and these calls are idempotent by nature
(terminate, stop, start, associate to where it already is) or by ClientToken (RunInstances).
The `dry_*` calls send DryRun=True: "DryRunOperation" means the caller may make the call.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from vpnwatch.adapters.aws import AwsAccessDenied, AwsApiError, AwsClient
from vpnwatch.adapters.ec2_spec import (
    HEAL_TAG,
    AddressInfo,
    LaunchSpec,
    RouteTarget,
    run_instances_args,
    spec_from,
)

__all__ = ["HEAL_TAG", "AddressInfo", "DryRunResult", "Ec2Actions", "LaunchSpec", "RouteTarget"]
_ATTRIBUTES = ("userData", "disableApiTermination", "disableApiStop",
               "instanceInitiatedShutdownBehavior")  # fmt: skip
_BURSTABLE = ("t2.", "t3.", "t3a.", "t4g.")

DryRunResult = tuple[bool, str]  # (would be allowed, why not)


def _address(a: Mapping[str, Any]) -> AddressInfo:
    return AddressInfo(
        a["AllocationId"], a["PublicIp"], a.get("InstanceId"), a.get("NetworkInterfaceId"),
        a.get("PrivateIpAddress"),
    )  # fmt: skip


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

    async def instance_by_id(self, instance_id: str) -> Mapping[str, Any]:
        """DescribeInstances naming the id (InvalidInstanceID.NotFound while it settles)."""
        page = await self._call("describe_instances", InstanceIds=[instance_id])
        found: list[Mapping[str, Any]] = [
            i for r in page.get("Reservations", []) for i in r.get("Instances", [])
        ]
        if not found:
            raise AwsApiError("InvalidInstanceID.NotFound", f"instance {instance_id} not found")
        return found[0]

    async def instances_tagged(self, key: str, value: str) -> list[Mapping[str, Any]]:
        page = await self._call(
            "describe_instances", Filters=[{"Name": f"tag:{key}", "Values": [value]}]
        )
        return [i for r in page.get("Reservations", []) for i in r.get("Instances", [])]

    async def capture_launch_spec(self, instance_id: str) -> LaunchSpec:
        item = await self.instance(instance_id)
        if item is None:
            raise AwsApiError("InvalidInstanceID.NotFound", f"instance {instance_id} not found")
        attributes = {
            name: await self._call(
                "describe_instance_attribute", InstanceId=instance_id, Attribute=name
            )
            for name in _ATTRIBUTES
        }
        volume_ids = [
            m["Ebs"]["VolumeId"] for m in item.get("BlockDeviceMappings", []) if m.get("Ebs")
        ]
        volumes = (
            (await self._call("describe_volumes", VolumeIds=volume_ids)).get("Volumes", [])
            if volume_ids
            else []
        )
        credit = None
        if str(item.get("InstanceType", "")).startswith(_BURSTABLE):
            page = await self._call(
                "describe_instance_credit_specifications", InstanceIds=[instance_id]
            )
            specs = page.get("InstanceCreditSpecifications", [])
            credit = specs[0].get("CpuCredits") if specs else None
        addresses = []
        for eni in item.get("NetworkInterfaces", []):
            addresses += await self._addresses("network-interface-id", eni["NetworkInterfaceId"])
        tables = []
        if item.get("VpcId"):
            page = await self._call(
                "describe_route_tables", Filters=[{"Name": "vpc-id", "Values": [item["VpcId"]]}]
            )
            tables = page.get("RouteTables", [])
        try:
            return spec_from(item, attributes, volumes, credit, addresses, tables)
        except ValueError as exc:
            raise AwsApiError("MissingParameter", str(exc)) from None

    async def _addresses(self, name: str, value: str) -> list[AddressInfo]:
        page = await self._call("describe_addresses", Filters=[{"Name": name, "Values": [value]}])
        return [_address(a) for a in page.get("Addresses", [])]

    async def address(self, public_ip: str) -> AddressInfo | None:
        found = await self._addresses("public-ip", public_ip)
        return found[0] if found else None

    async def address_of_instance(self, instance_id: str) -> AddressInfo | None:
        found = await self._addresses("instance-id", instance_id)
        return found[0] if found else None

    async def console_output(self, instance_id: str, *, latest: bool) -> str:
        page = await self._call("get_console_output", InstanceId=instance_id, Latest=latest)
        return str(page.get("Output") or "")

    async def is_nitro(self, instance_type: str) -> bool:
        """Whether the type runs on Nitro (GetConsoleOutput Latest works only there)."""
        page = await self._call("describe_instance_types", InstanceTypes=[instance_type])
        types = page.get("InstanceTypes", [])
        return bool(types) and types[0].get("Hypervisor") == "nitro"

    async def image(self, image_id: str) -> Mapping[str, Any] | None:
        try:
            page = await self._call("describe_images", ImageIds=[image_id])
        except AwsApiError as exc:
            if exc.code.startswith("InvalidAMIID"):
                return None
            raise
        images = page.get("Images", [])
        return images[0] if images else None

    async def key_pair_exists(self, name: str) -> bool:
        try:
            page = await self._call("describe_key_pairs", KeyNames=[name])
        except AwsApiError as exc:
            if exc.code == "InvalidKeyPair.NotFound":
                return False
            raise
        return bool(page.get("KeyPairs"))

    async def subnet(self, subnet_id: str) -> Mapping[str, Any] | None:
        try:
            page = await self._call("describe_subnets", SubnetIds=[subnet_id])
        except AwsApiError as exc:
            if exc.code == "InvalidSubnetID.NotFound":
                return None
            raise
        subnets = page.get("Subnets", [])
        return subnets[0] if subnets else None

    async def instance_profile_exists(self, profile_arn: str) -> bool:
        name = profile_arn.rsplit("/", 1)[-1]
        try:
            await self._aws.call(
                "iam", self.region, "get_instance_profile", InstanceProfileName=name
            )
        except AwsApiError as exc:
            if exc.code == "NoSuchEntity":
                return False
            raise
        return True

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

    async def primary_eni_of(self, instance_id: str) -> str | None:
        item = await self.instance_by_id(instance_id)
        for eni in item.get("NetworkInterfaces", []):
            if eni.get("Attachment", {}).get("DeviceIndex", 0) == 0:
                return str(eni["NetworkInterfaceId"])
        return None

    async def source_dest_check(self, instance_id: str) -> bool:
        page = await self._call(
            "describe_instance_attribute", InstanceId=instance_id, Attribute="sourceDestCheck"
        )
        return bool((page.get("SourceDestCheck") or {}).get("Value", True))

    async def termination_protected(self, instance_id: str) -> bool:
        page = await self._call(
            "describe_instance_attribute", InstanceId=instance_id, Attribute="disableApiTermination"
        )
        return bool((page.get("DisableApiTermination") or {}).get("Value", False))

    # ------------------------------------------------------------ dry runs

    async def _dry(self, operation: str, **kwargs: Any) -> DryRunResult:
        try:
            await self._call(operation, DryRun=True, **kwargs)
        except AwsApiError as exc:
            if exc.code == "DryRunOperation":
                return True, "allowed"
            return False, str(exc)
        except AwsAccessDenied as exc:
            return False, str(exc)
        return False, "the dry run did not answer DryRunOperation"

    async def dry_run_twin(
        self, spec: LaunchSpec, *, image_id: str, root_device_name: str, user_data: bytes | None,
        heal_id: str, keep_eni: bool,
    ) -> DryRunResult:  # fmt: skip
        args = run_instances_args(
            spec, image_id=image_id, root_device_name=root_device_name, user_data=user_data,
            heal_id=heal_id, keep_eni=keep_eni,
        )  # fmt: skip
        return await self._dry("run_instances", **args)

    async def dry_terminate(self, instance_id: str) -> DryRunResult:
        return await self._dry("terminate_instances", InstanceIds=[instance_id])

    async def dry_stop(self, instance_id: str) -> DryRunResult:
        return await self._dry("stop_instances", InstanceIds=[instance_id])

    async def dry_start(self, instance_id: str) -> DryRunResult:
        return await self._dry("start_instances", InstanceIds=[instance_id])

    async def dry_associate(self, allocation_id: str, *, instance_id: str | None,
                            eni_id: str | None = None) -> DryRunResult:  # fmt: skip
        target = {"NetworkInterfaceId": eni_id} if eni_id else {"InstanceId": instance_id}
        return await self._dry("associate_address", AllocationId=allocation_id, **target)

    async def dry_modify_attribute(self, instance_id: str) -> DryRunResult:
        return await self._dry(
            "modify_instance_attribute", InstanceId=instance_id, SourceDestCheck={"Value": False}
        )

    async def dry_tag(self, resource_id: str, tags: Mapping[str, str]) -> DryRunResult:
        return await self._dry(
            "create_tags",
            Resources=[resource_id],
            Tags=[{"Key": k, "Value": v} for k, v in sorted(tags.items())],
        )

    async def dry_replace_route(self, route: RouteTarget, eni_id: str) -> DryRunResult:
        return await self._dry(
            "replace_route", RouteTableId=route.route_table_id, NetworkInterfaceId=eni_id,
            **{route.kind: route.destination},
        )  # fmt: skip

    async def dry_keep_eni(self, eni_id: str, attachment_id: str) -> DryRunResult:
        return await self._dry(
            "modify_network_interface_attribute",
            NetworkInterfaceId=eni_id,
            Attachment={"AttachmentId": attachment_id, "DeleteOnTermination": False},
        )

    # ------------------------------------------------------------ mutations

    async def reboot(self, instance_id: str) -> None:
        await self._call("reboot_instances", InstanceIds=[instance_id])

    async def terminate(self, instance_id: str) -> None:
        await self._call("terminate_instances", InstanceIds=[instance_id])

    async def stop(self, instance_id: str) -> None:
        await self._call("stop_instances", InstanceIds=[instance_id])

    async def start(self, instance_id: str) -> None:
        await self._call("start_instances", InstanceIds=[instance_id])

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
        self, spec: LaunchSpec, *, client_token: str, heal_id: str, keep_eni: bool,
        image_id: str, root_device_name: str, user_data: bytes | None,
    ) -> str:  # fmt: skip
        """RunInstances for the replacement; idempotent through the ClientToken."""
        args = run_instances_args(
            spec, image_id=image_id, root_device_name=root_device_name, user_data=user_data,
            heal_id=heal_id, keep_eni=keep_eni,
        )  # fmt: skip
        page = await self._call("run_instances", ClientToken=client_token, **args)
        return str(page["Instances"][0]["InstanceId"])

    async def disable_source_dest_check(self, instance_id: str) -> None:
        await self._call(
            "modify_instance_attribute", InstanceId=instance_id, SourceDestCheck={"Value": False}
        )

    async def associate_eip(self, allocation_id: str, instance_id: str) -> None:
        """Associate an unassociated Elastic IP (never pulls it off another holder)."""
        await self._call(
            "associate_address",
            AllocationId=allocation_id,
            InstanceId=instance_id,
            AllowReassociation=False,
        )

    async def replace_route(self, route: RouteTarget, eni_id: str) -> None:
        await self._call(
            "replace_route", RouteTableId=route.route_table_id, NetworkInterfaceId=eni_id,
            **{route.kind: route.destination},
        )  # fmt: skip


def decode_user_data(user_data_b64: str | None) -> bytes | None:
    """The raw bytes of EC2's base64 user data (never text-decoded here)."""
    if not user_data_b64:
        return None
    try:
        return base64.b64decode(user_data_b64, validate=True)
    except (binascii.Error, ValueError):
        raise AwsApiError("InvalidUserData", "the instance's user data is not base64") from None
