"""The lab's record of each world router: what it runs on now, what a launch brings, and
the simulated router each boots."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import asyncssh

from vpnwatch.lab.router_plans import RouterPlan
from vpnwatch.lab.vyos_sim import SimulatedRouter, Timings
from vpnwatch.lab.vyos_sim.formats import Version

SlotState = Literal["running", "rebooting", "booting", "stopped", "terminated", "failed"]


@dataclass(frozen=True)
class Launch:
    """What a RunInstances gives a new instance of a router (from its AMI and user data)."""

    version: Version
    login_keys: tuple[tuple[str, str], ...]  # (name, OpenSSH public key line)
    edits: tuple[tuple[str, tuple[str, ...], str | None], ...] = ()
    files: Mapping[str, tuple[bytes, int, bool]] = field(default_factory=dict)
    boot_after: float = 0.0  # seconds until it boots (pending window + boot time)
    boot_scripts: bool = True


@dataclass
class RouterSlot:
    plan: RouterPlan
    instance_id: str
    eni_id: str
    port: int = 0
    state: SlotState = "running"
    router: SimulatedRouter | None = None
    generation: int = 0  # bumped by terminate/relaunch: stale boots and reboots give up
    tamper_next: bool = False
    doom_next: tuple[str, str] | None = None  # StateReason (code, message) of its next launch
    impaired: bool = False  # its host is broken: down until stopped and started
    instances: list[str] = field(default_factory=list)  # every instance id it has had
    boot_scripts: bool = True


def _router(
    plan: RouterPlan, version: Version, logins: Sequence[tuple[str, str]], timings: Timings,
    config_commands: list[str] | None, **launched: Any,
) -> SimulatedRouter:  # fmt: skip
    return SimulatedRouter(
        plan.name, version=version, local_as=plan.local_as, tunnels=plan.tunnels,
        login_keys=logins, config_commands=config_commands, role=plan.role,
        vpc_cidr=plan.vpc_cidr, private_ip=plan.private_ip, timings=timings, **launched,
    )  # fmt: skip


def built_router(
    plan: RouterPlan, client_key: str, key_pair_key: str | None, timings: Timings, *, blank: bool
) -> SimulatedRouter:
    """A router of the world as built: launched with its site's key pair, the daemon's key
    added by the operator (as docs/operations.md asks), the article's config (`blank`: the
    AMI's defaults only)."""
    logins = [("vpnwatch", client_key)]
    if key_pair_key:
        logins.insert(0, (f"cloud-init-{uuid.uuid5(uuid.NAMESPACE_DNS, plan.name)}", key_pair_key))
    return _router(plan, plan.version, logins, timings, [] if blank else None)


def launched_router(
    slot: RouterSlot, launch: Launch, timings: Timings, *, tamper: bool
) -> SimulatedRouter:
    """A relaunched instance: its AMI's defaults, the logins and files its user data brings
    (`tamper`: it presents a host key other than the one it prints)."""
    decoy = asyncssh.generate_private_key("ssh-ed25519") if tamper else None
    return _router(
        slot.plan, launch.version, launch.login_keys, timings, [], presented_key=decoy,
        mac=mac_of(slot.eni_id), edits=launch.edits, files=launch.files,
    )  # fmt: skip


def mac_of(eni_id: str) -> str:
    """A stable MAC address for an interface (a new interface has a new one)."""
    digest = uuid.uuid5(uuid.NAMESPACE_OID, eni_id).hex
    return ":".join(["0a", *(digest[i : i + 2] for i in range(0, 10, 2))])
