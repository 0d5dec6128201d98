"""The lab's record of each world router: what it runs on now, and what a launch brings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from vpnwatch.lab.router_plans import RouterPlan
from vpnwatch.lab.vyos_sim import SimulatedRouter
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
