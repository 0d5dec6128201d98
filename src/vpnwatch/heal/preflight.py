"""Preflight: everything a replacement needs, checked before its point of no return (DESIGN §5).

Run before `terminate` (also in dry-run, and by `vpnwatch heal --rehearse`). Reads and
DryRun=True calls only: the AMI is still there and not older than the router's VyOS (the
release recorded with the backup), the key pair, the instance profile, the subnet; the same
launch would reproduce the router (same-ip refuses what it cannot carry over and points at
`eni`); the Elastic IP is where it may be moved from; the user data fits; and the daemon
may make each mutating call (RunInstances with the exact launch spec, TerminateInstances,
AssociateAddress, ModifyInstanceAttribute, CreateTags, ReplaceRoute, and for `eni`
ModifyNetworkInterfaceAttribute). Any failure: no action, and every reason is reported.
"""

from __future__ import annotations

import base64
import ipaddress
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from vpnwatch.adapters.ec2_actions import HEAL_TAG, Ec2Actions, LaunchSpec, decode_user_data
from vpnwatch.errors import VpnwatchError
from vpnwatch.heal.restore import release_of_backup, version_key
from vpnwatch.heal.userdata import compose

_AMI_VERSION = re.compile(r"(?i)vyos[^0-9]{0,20}(\d+\.\d+(?:\.\d+)?)")


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


@dataclass(frozen=True)
class LaunchPlan:
    """What the launch will send, fixed by the preflight that tested it."""

    image_id: str
    root_device_name: str
    user_data_b64: str
    nitro: bool

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LaunchPlan:
        return cls(**data)


@dataclass(frozen=True)
class Preflight:
    checks: tuple[Check, ...]
    plan: LaunchPlan | None

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks) and self.plan is not None

    def failures(self) -> str:
        return "; ".join(f"{c.name}: {c.detail}" for c in self.checks if not c.ok)


@dataclass(frozen=True)
class PreflightInput:
    router: str
    heal_id: str
    strategy: str  # same-ip | eni
    spec: LaunchSpec
    elastic_ip: str | None
    allocation_id: str | None
    backup_text: str | None
    ami_override: str | None
    public_key: str
    managed_tag: tuple[str, str]


def ami_release(image: Mapping[str, Any]) -> str | None:
    """The VyOS release an AMI's name or description names ("vyos-1.4.3-..." → "1.4.3")."""
    for text in (image.get("Name"), image.get("Description")):
        match = _AMI_VERSION.search(str(text or ""))
        if match:
            return match.group(1)
    return None


def reproducible(spec: LaunchSpec, strategy: str) -> list[str]:
    """What a twin launched by `strategy` would not carry over (empty: all of it)."""
    problems = []
    if spec.other_interfaces:
        problems.append(f"{len(spec.other_interfaces)} more network interface(s)")
    if spec.extra_volumes:
        devices = ", ".join(v.device_name for v in spec.extra_volumes)
        problems.append(f"EBS volumes beyond the root device ({devices}) would start empty")
    if strategy == "same-ip":
        if spec.secondary_private_ips:
            problems.append(f"{len(spec.secondary_private_ips)} secondary private IP(s)")
        if spec.ipv6_addresses:
            problems.append(f"{len(spec.ipv6_addresses)} IPv6 address(es)")
        if len(spec.elastic_ips) > 1:
            problems.append(f"{len(spec.elastic_ips)} Elastic IPs")
        if not spec.eni_delete_on_termination:
            problems.append(
                f"its primary interface {spec.eni_id} is kept on termination "
                "(DeleteOnTermination false): same-ip would wait for its IP forever"
            )
    return problems


async def _guarded(name: str, probe: Callable[[], Awaitable[Check]]) -> Check:
    try:
        return await probe()
    except VpnwatchError as exc:
        return Check(name, False, str(exc))


async def run_preflight(ec2: Ec2Actions, given: PreflightInput) -> Preflight:
    """Every check, each with its own verdict (one failing does not hide the others)."""
    spec, checks = given.spec, []
    key, value = given.managed_tag
    checks.append(
        Check(
            "managed-tag", spec.tags.get(key) == value, f"{key}={spec.tags.get(key, '(missing)')}"
        )
    )
    image_id = given.ami_override or spec.image_id
    image_check, root_device = await _image(ec2, image_id, given.backup_text)
    checks.append(image_check)
    checks.append(await _guarded("key-pair", lambda: _key_pair(ec2, spec)))
    checks.append(await _guarded("instance-profile", lambda: _profile(ec2, spec)))
    checks.append(await _guarded("subnet", lambda: _subnet(ec2, spec)))
    problems = reproducible(spec, given.strategy)
    hint = " (strategy eni keeps the interface, its IPs and EIPs)" if problems else ""
    checks.append(
        Check(f"reproducible-{given.strategy}", not problems,
              "; ".join(problems) + hint if problems else "everything carries over")
    )  # fmt: skip
    checks.append(await _guarded("elastic-ip", lambda: _elastic_ip(ec2, given)))
    user_data = None
    try:
        user_data = compose(decode_user_data(spec.user_data_b64), given.public_key)
        checks.append(Check("user-data", True, f"{len(user_data)} bytes (limit 16384)"))
    except VpnwatchError as exc:
        checks.append(Check("user-data", False, str(exc)))
    try:
        nitro = await ec2.is_nitro(spec.instance_type)
        detail = "read with Latest (Nitro)" if nitro else "buffered, minutes late (not Nitro)"
        checks.append(Check("console", True, detail))
    except VpnwatchError as exc:
        nitro = False
        checks.append(Check("console", False, f"cannot tell the hypervisor: {exc}"))
    keep_eni = given.strategy == "eni"
    checks += await _dry_runs(ec2, given, image_id, root_device, user_data, keep_eni)
    plan = None
    if root_device is not None and user_data is not None:
        encoded = base64.b64encode(user_data).decode()
        plan = LaunchPlan(image_id, root_device, encoded, nitro)
    return Preflight(tuple(checks), plan)


async def _image(
    ec2: Ec2Actions, image_id: str, backup_text: str | None
) -> tuple[Check, str | None]:
    image = await ec2.image(image_id)
    if image is None:
        return Check("ami", False, f"{image_id} does not exist (deregistered?): set heal.ami"), None
    if image.get("State") != "available":
        return Check("ami", False, f"{image_id} is {image.get('State')}, not available"), None
    release = ami_release(image)
    running = release_of_backup(backup_text or "")
    root = str(image.get("RootDeviceName") or "/dev/xvda")
    if release is None:
        detail = f"{image_id} names no VyOS version in its name or description"
        return Check("ami", False, detail), root
    if running is None:
        detail = "the backup records no VyOS release (taken before vpnwatch recorded it?)"
        return Check("ami", False, detail), root
    if version_key(release) < version_key(running):
        detail = (
            f"{image_id} is VyOS {release}, older than the running VyOS {running}: "
            "set heal.ami for this router to a newer image"
        )
        return Check("ami", False, detail), root
    return Check("ami", True, f"{image_id} VyOS {release} (running {running})"), root


async def _key_pair(ec2: Ec2Actions, spec: LaunchSpec) -> Check:
    if not spec.key_name:
        return Check("key-pair", True, "none (vpnwatch logs in with its key from user data)")
    if await ec2.key_pair_exists(spec.key_name):
        return Check("key-pair", True, spec.key_name)
    return Check("key-pair", False, f"key pair {spec.key_name} does not exist")


async def _profile(ec2: Ec2Actions, spec: LaunchSpec) -> Check:
    arn = spec.iam_instance_profile_arn
    if not arn:
        return Check("instance-profile", True, "none")
    if await ec2.instance_profile_exists(arn):
        return Check("instance-profile", True, arn)
    return Check("instance-profile", False, f"{arn} does not exist")


async def _subnet(ec2: Ec2Actions, spec: LaunchSpec) -> Check:
    subnet = await ec2.subnet(spec.subnet_id)
    if subnet is None:
        return Check("subnet", False, f"{spec.subnet_id} does not exist")
    cidr = ipaddress.ip_network(str(subnet.get("CidrBlock", "0.0.0.0/32")))
    if ipaddress.ip_address(spec.private_ip) not in cidr:
        return Check("subnet", False, f"{spec.private_ip} is not in {spec.subnet_id} ({cidr})")
    return Check("subnet", True, f"{spec.subnet_id} {cidr}")


async def _elastic_ip(ec2: Ec2Actions, given: PreflightInput) -> Check:
    if given.elastic_ip is None:
        return Check("elastic-ip", False, "the router has no Elastic IP (moved by hand?)")
    address = await ec2.address(given.elastic_ip)
    if address is None:
        return Check("elastic-ip", False, f"{given.elastic_ip} is not allocated")
    spec = given.spec
    if address.instance_id not in (None, spec.instance_id) or address.eni_id not in (
        None,
        spec.eni_id,
    ):
        holder = address.instance_id or address.eni_id
        return Check(
            "elastic-ip", False,
            f"{given.elastic_ip} is on {holder}, not on {spec.instance_id}: not moving it",
        )  # fmt: skip
    return Check("elastic-ip", True, f"{given.elastic_ip} ({address.allocation_id})")


async def _dry_runs(
    ec2: Ec2Actions, given: PreflightInput, image_id: str, root_device: str | None,
    user_data: bytes | None, keep_eni: bool,
) -> list[Check]:  # fmt: skip
    spec, old = given.spec, given.spec.instance_id
    calls: list[tuple[str, Callable[[], Awaitable[tuple[bool, str]]]]] = []
    if root_device is not None:
        calls.append(("dry-run RunInstances", lambda: ec2.dry_run_twin(
            spec, image_id=image_id, root_device_name=root_device, user_data=user_data,
            heal_id=given.heal_id, keep_eni=keep_eni)))  # fmt: skip
    calls.append(("dry-run TerminateInstances", lambda: ec2.dry_terminate(old)))
    calls.append(("dry-run ModifyInstanceAttribute", lambda: ec2.dry_modify_attribute(old)))
    calls.append(("dry-run CreateTags", lambda: ec2.dry_tag(old, {HEAL_TAG: given.heal_id})))
    if given.allocation_id is not None:
        allocation = given.allocation_id
        if keep_eni:
            calls.append(("dry-run AssociateAddress", lambda: ec2.dry_associate(
                allocation, instance_id=None, eni_id=spec.eni_id)))  # fmt: skip
        else:
            calls.append(("dry-run AssociateAddress", lambda: ec2.dry_associate(
                allocation, instance_id=old)))  # fmt: skip
    if keep_eni and spec.eni_attachment_id and spec.eni_delete_on_termination:
        attachment = spec.eni_attachment_id
        calls.append(("dry-run ModifyNetworkInterfaceAttribute",
                      lambda: ec2.dry_keep_eni(spec.eni_id, attachment)))  # fmt: skip
    if not keep_eni:
        for route in spec.routes:
            calls.append((f"dry-run ReplaceRoute {route.route_table_id} {route.destination}",
                          lambda r=route: ec2.dry_replace_route(r, spec.eni_id)))  # type: ignore[misc]  # fmt: skip
    checks = []
    for name, call in calls:
        try:
            allowed, why = await call()
        except VpnwatchError as exc:
            allowed, why = False, str(exc)
        checks.append(Check(name, allowed, why))
    return checks
