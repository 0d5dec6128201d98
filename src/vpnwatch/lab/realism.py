"""How faithfully the emulated world behaves like EC2 and a stock VyOS AMI (DESIGN §10).

Every behaviour is on by default; a test that needs the world simpler opts out *by name*
(`Realism().without("pending")`), so what it gives up is visible in the test. The sources
of each behaviour are in docs/architecture.md ("The emulated world").
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Self

from vpnwatch.lab.safety import LabError

# name → what turning it off gives up
BEHAVIOURS = {
    "pending": "a launched or started instance stays `pending` before `running`; "
    "AssociateAddress/ModifyInstanceAttribute/StopInstances refuse it",
    "not-found": "a freshly launched instance id is InvalidInstanceID.NotFound for a moment",
    "console-delay": "GetConsoleOutput without Latest shows output only after a delay",
    "nitro-latest": "GetConsoleOutput Latest=True is refused on non-Nitro instance types",
    "key-pair-login": "a fresh instance authorizes only its KeyName key and user-data keys",
    "user-data": "user data is applied as VyOS cloud-init does (16 KB limit, gzip, MIME)",
    "boot-scripts": "post-config boot scripts from user data run at boot, output on the console",
    "launch-checks": "RunInstances checks the AMI, the key pair and the user data size",
    "stop-start": "StopInstances/StartInstances take time and keep the router's disk",
}
DEFAULT_PENDING_DELAY = 2.0
DEFAULT_NOT_FOUND_WINDOW = 1.0
DEFAULT_STOP_DELAY = 1.0
USER_DATA_LIMIT = 16 * 1024  # bytes, raw (before base64): EC2 RunInstances


@dataclass(frozen=True)
class Realism:
    """Which real behaviours are on, and the (scaled-down) delays they use."""

    off: frozenset[str] = field(default_factory=frozenset)
    pending_delay: float = DEFAULT_PENDING_DELAY
    not_found_window: float = DEFAULT_NOT_FOUND_WINDOW
    stop_delay: float = DEFAULT_STOP_DELAY

    def __post_init__(self) -> None:
        unknown = sorted(set(self.off) - set(BEHAVIOURS))
        if unknown:
            known = ", ".join(BEHAVIOURS)
            raise LabError(f"unknown lab behaviour(s) {', '.join(unknown)}: use {known}")
        for name in ("pending_delay", "not_found_window", "stop_delay"):
            if getattr(self, name) < 0:
                raise LabError(f"{name} must not be negative")

    def on(self, name: str) -> bool:
        if name not in BEHAVIOURS:
            raise LabError(f"unknown lab behaviour {name!r}")
        return name not in self.off

    def without(self, *names: str) -> Self:
        """The same realism with the named behaviours turned off."""
        return replace(self, off=frozenset({*self.off, *names}))

    @property
    def effective_pending(self) -> float:
        return self.pending_delay if self.on("pending") else 0.0
