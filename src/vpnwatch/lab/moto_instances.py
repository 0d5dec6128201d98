"""Direct reads and writes of moto's instances, network interfaces and Elastic IPs: the parts
of an instance replacement AWS does and moto does not.

- A primary interface created at launch is deleted on termination (moto keeps it);
  `Attachment.DeleteOnTermination` can be changed (moto ignores it).
- A kept interface is detached from its terminated instance (status `available`, keeping its
  private IP, Elastic IP and source/dest check) and can be launched on again; the Elastic IP
  then shows the new instance.
- An interface deleted with its instance takes its Elastic IP association with it.

Backends are looked up again on every call: a moto reset replaces them.
"""

from __future__ import annotations

import copy
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vpnwatch.lab.moto_state import ec2_backend

_INSTANCE_ID = re.compile(r"InstanceId\.\d+")
_ENI_ID = re.compile(r"NetworkInterface\.(\d+)\.NetworkInterfaceId")


@dataclass(frozen=True)
class NicFacts:
    """An instance's primary network interface as it is now."""

    eni_id: str
    subnet_id: str
    private_ip: str
    exists: bool  # still in the backend (False: deleted with its instance)


# ---------------------------------------------------------------- request parameters


def instance_ids(params: Mapping[str, str]) -> list[str]:
    """InstanceId.N of a query request, in order."""
    keys = sorted((k for k in params if _INSTANCE_ID.fullmatch(k)), key=lambda k: int(k[11:]))
    return [params[k] for k in keys]


def requested_eni_ids(params: Mapping[str, str]) -> dict[str, str]:
    """NetworkInterface.N.NetworkInterfaceId of a RunInstances request, by N."""
    return {m.group(1): v for k, v in params.items() if (m := _ENI_ID.fullmatch(k))}


def requested_address(params: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(subnet id, private IP) a RunInstances request asks for, either way it can say it."""
    subnet = params.get("SubnetId") or params.get("NetworkInterface.1.SubnetId")
    address = params.get("PrivateIpAddress") or params.get("NetworkInterface.1.PrivateIpAddress")
    return subnet, address


# ---------------------------------------------------------------- reads


def instance(region: str, instance_id: str) -> Any | None:
    for candidate in ec2_backend(region).all_instances():
        if candidate.id == instance_id:
            return candidate
    return None


def instance_state(region: str, instance_id: str) -> str | None:
    found = instance(region, instance_id)
    return None if found is None else str(found.instance_state.name)


def primary_nic(region: str, instance_id: str) -> NicFacts | None:
    found = instance(region, instance_id)
    nic = found.nics.get(0) if found is not None else None
    if nic is None:
        return None
    exists = ec2_backend(region).enis.get(nic.id) is nic
    return NicFacts(nic.id, nic.subnet.id, str(nic.private_ip_address), exists)


def eni_attached(region: str, eni_id: str) -> bool:
    eni = ec2_backend(region).enis.get(eni_id)
    return eni is not None and eni.instance is not None


def _subnet(backend: Any, subnet_id: str) -> Any | None:
    for per_zone in list(backend.subnets.values()):
        if subnet_id in per_zone:
            return per_zone[subnet_id]
    return None


def _holds(eni: Any, subnet_id: str, address: str) -> bool:
    return eni.subnet.id == subnet_id and any(
        a.get("PrivateIpAddress") == address for a in eni.private_ip_addresses
    )


def address_problem(region: str, subnet_id: str, address: str) -> str | None:
    """Why a launch on (subnet, IP) cannot work now: "outside" the subnet, "in-use", or None.
    (moto answers both with an HTTP 500.)"""
    backend = ec2_backend(region)
    subnet = _subnet(backend, subnet_id)
    if subnet is None:
        return None  # moto says InvalidSubnetID.NotFound itself
    try:
        if ipaddress.ip_address(address) not in ipaddress.ip_network(subnet.cidr_block):
            return "outside"
    except ValueError:
        return "outside"
    taken = address in getattr(subnet, "_subnet_ips", {})
    if taken or any(_holds(eni, subnet_id, address) for eni in list(backend.enis.values())):
        return "in-use"
    return None


# ---------------------------------------------------------------- writes


def delete_launched_nics_on_termination(
    region: str, instance_id: str, params: Mapping[str, str]
) -> None:
    """AWS deletes an interface created at launch with its instance unless told otherwise."""
    found = instance(region, instance_id)
    if found is None:
        return
    given = requested_eni_ids(params)
    for index, nic in found.nics.items():
        n = str(index + 1)
        if n in given:
            continue  # an existing interface: AWS leaves it alone
        flag = params.get(f"NetworkInterface.{n}.DeleteOnTermination", "true").lower()
        nic.delete_on_termination = flag == "true"


def set_delete_on_termination(
    region: str, eni_id: str, attachment_id: str, value: bool
) -> str | None:
    """Honour ModifyNetworkInterfaceAttribute Attachment; an error message if it cannot."""
    eni = ec2_backend(region).enis.get(eni_id)
    if eni is None:
        return None  # moto answers InvalidNetworkInterfaceID.NotFound
    if eni.attachment_id != attachment_id:
        return f"The attachment ID '{attachment_id}' does not exist"
    eni.delete_on_termination = value
    return None


def drop_eip_association(region: str, instance_id: str) -> None:
    """The terminated instance's deleted interface takes its Elastic IP association along."""
    found = instance(region, instance_id)
    nic = found.nics.get(0) if found is not None else None
    for eip in list(ec2_backend(region).addresses):
        if (nic is not None and eip.eni is nic) or eip.instance is found:
            if eip.eni is not None:
                eip.eni.public_ip = None
            eip.instance = eip.eni = eip.association_id = None


def keep_eip_on_eni(region: str, eni_id: str) -> None:
    """moto drops a stopped interface's public IP even when it is an Elastic IP's: put it back."""
    backend = ec2_backend(region)
    eni = backend.enis.get(eni_id)
    for eip in list(backend.addresses):
        if eni is not None and eip.eni is eni:
            eni.public_ip = eip.public_ip


def free_address(region: str, subnet_id: str, address: str) -> None:
    """Release the IP in the subnet (moto keeps it until the instance object is collected)."""
    backend = ec2_backend(region)
    if any(_holds(eni, subnet_id, address) for eni in list(backend.enis.values())):
        return  # an interface holds it (a kept ENI): not free
    subnet = _subnet(backend, subnet_id)
    if subnet is not None:
        subnet.del_subnet_ip(address)


def detach_kept_eni(region: str, instance_id: str, eni_id: str) -> None:
    """The kept interface leaves the terminated instance: `available`, its EIP stays on it.

    The old instance keeps a detached copy as its record (moto needs nics[0] to describe it).
    """
    backend = ec2_backend(region)
    eni = backend.enis.get(eni_id)
    old = instance(region, instance_id)
    if eni is None or eni.instance is not old:
        return  # already moved on
    if old is not None:
        record = copy.copy(eni)
        record.public_ip = None
        old.nics[eni.device_index or 0] = record
    eni.instance = eni.attachment_id = eni.attach_time = None
    eni.status = "available"
    for eip in list(backend.addresses):
        if eip.eni is eni:
            eip.instance = None


def adopt_kept_eni(region: str, instance_id: str) -> None:
    """A new instance launched on a kept interface: its EIP and source/dest check follow."""
    found = instance(region, instance_id)
    nic = found.nics.get(0) if found is not None else None
    if found is None or nic is None:
        return
    found.source_dest_check = nic.source_dest_check
    for eip in list(ec2_backend(region).addresses):
        if eip.eni is nic:
            eip.instance = found


def eni_instance(region: str, eni_id: str) -> str | None:
    """The instance an interface is attached to now, if any."""
    eni = ec2_backend(region).enis.get(eni_id)
    return str(eni.instance.id) if eni is not None and eni.instance is not None else None


def image(region: str, image_id: str) -> Any | None:
    return ec2_backend(region).amis.get(image_id)


def key_pair_public(region: str, name: str) -> str | None:
    """The OpenSSH public key line of a key pair (None: no such key pair)."""
    pair = ec2_backend(region).key_pairs.get(name)
    if pair is None:
        return None
    public = getattr(pair, "material_public", None)
    if isinstance(public, bytes):
        public = public.decode("utf-8", "replace")
    return " ".join(str(public).split()[:2]) if public else ""


def tag_primary_eni(region: str, instance_id: str, tags: Mapping[str, str]) -> None:
    """TagSpecifications for `network-interface` (moto ignores them)."""
    found = instance(region, instance_id)
    nic = found.nics.get(0) if found is not None else None
    if nic is not None and tags:
        ec2_backend(region).create_tags([nic.id], dict(tags))


def set_termination_protection(region: str, instance_id: str, value: bool) -> None:
    """RunInstances DisableApiTermination (moto ignores it at launch)."""
    found = instance(region, instance_id)
    if found is not None:
        found.disable_api_termination = value


def keep_eip_on_instance(region: str, instance_id: str) -> None:
    """A stopped or started instance keeps its Elastic IP (moto drops the interface's)."""
    found = instance(region, instance_id)
    nic = found.nics.get(0) if found is not None else None
    if nic is not None:
        keep_eip_on_eni(region, nic.id)
