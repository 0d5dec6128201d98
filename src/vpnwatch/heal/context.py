"""What a heal workflow works with: its deadlines, the router it reaches, the backups."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from vpnwatch.adapters.ec2_actions import Ec2Actions
from vpnwatch.config.heal import HealTimeouts
from vpnwatch.core.records import HealRecord
from vpnwatch.heal.gate import MutationGate
from vpnwatch.heal.progress import ProgressStore
from vpnwatch.heal.restore import RestoreAccess
from vpnwatch.render.model import RouterIntent


class RouterAccess(Protocol):
    """How the workflow reaches the relaunched router (adapter + where it lives)."""

    async def host_key(self) -> str: ...

    def trusting(self, key: str) -> RestoreAccess: ...


class Backups(Protocol):
    def latest_valid_backup(self, router: str) -> tuple[str, str] | None: ...


@dataclass
class ReplaceContext:
    ec2: Ec2Actions
    gate: MutationGate
    store: ProgressStore
    access: RouterAccess
    backups: Backups
    verify: Callable[[str], Awaitable[tuple[bool, str]]]  # new instance id → (ok, why)
    sleep: Callable[[float], Awaitable[None]]
    on_step: Callable[[str], None]
    managed_tag: tuple[str, str]
    timeouts: HealTimeouts  # config.heal.timeouts, read when the heal starts
    log: Any
    public_key: str = ""  # the daemon's (OpenSSH line), given to the new router by user data
    strip_sections: Sequence[str] = ("interfaces ethernet eth0", "service", "system")
    ami_override: str | None = None
    on_record: Callable[[HealRecord], None] = lambda record: None
    # heal.seed_vpn_config: the router's render input from AWS (None: not seeded)
    vpn_seed: Callable[[], Awaitable[RouterIntent]] | None = None
    monotonic: Callable[[], float] = time.monotonic
    fence: Callable[[], int] = lambda: 0  # the leader's fencing token, for the ClientToken
