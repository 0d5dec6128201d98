"""What the loop remembers between cycles (and the state store keeps across restarts)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from vpnwatch.vocabulary import Action


@dataclass(frozen=True)
class RouterHistory:
    """Hysteresis of one router: its failure streak and its flaps."""

    consecutive_failures: int = 0
    failed_since: float | None = None
    flap_times: tuple[float, ...] = ()
    flaps_total: int = 0
    was_failed: bool = False
    seen_at: float | None = None  # the last cycle that judged it (a long gap breaks a streak)


@dataclass(frozen=True)
class Episode:
    """The escalation state of one router's current failure."""

    last_action: Action
    last_action_at: float
    started_at: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "last_action", Action(self.last_action))


@dataclass(frozen=True)
class GuardMemory:
    """What the guards remember of one mode's actions (live and dry-run each have their own,
    so a dry-run run can neither close a live breaker nor forget a live replacement)."""

    breaker_open: bool = False
    breaker_reason: str = ""
    episodes: Mapping[str, Episode] = field(default_factory=dict)
    cooldown_until: Mapping[str, float] = field(default_factory=dict)
    replacements: tuple[tuple[str, float], ...] = ()  # (router, when)


@dataclass(frozen=True)
class Memory:
    hysteresis: Mapping[str, RouterHistory] = field(default_factory=dict)
    guards: GuardMemory = field(default_factory=GuardMemory)  # of the configured mode
    paused: bool = False  # by an operator's request (`vpnwatch pause`, SIGUSR1)
