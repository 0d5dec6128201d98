"""What a cycle knows beyond its snapshot (`Facts`) and what it decided (`Decision`), as data.

The reason line is rendered from a Decision by `reason.py` and nowhere else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from vpnwatch.core.records import HealRecord, RequestAnswer
from vpnwatch.model import TunnelMaintenance
from vpnwatch.vocabulary import Action, Hold, TunnelAction


@dataclass(frozen=True)
class StateProblem:
    """A piece of safety state that could not be read: while any exists, nothing acts."""

    file: str  # where it lives, relative to the state directory (or the store's key)
    why: str


@dataclass(frozen=True)
class Facts:
    """What the loop gathered besides the snapshot, this cycle."""

    has_backup: Mapping[str, bool] = field(default_factory=dict)  # a valid backup to restore
    leader: bool = True  # this process holds the lease: it may act
    leader_name: str = ""  # who does, when this process does not
    can_heal: bool = True  # heal.enabled and an executor (SSH) exist
    switch_paused: bool = False  # heal.paused or the pause file
    busy: Mapping[str, str] = field(default_factory=dict)  # router → step, heals running here
    unfinished: tuple[HealRecord, ...] = ()  # records still "running" and not running here
    state_problems: tuple[StateProblem, ...] = ()
    rehearsal_failed: Mapping[str, str] = field(default_factory=dict)  # router → failed check
    # AWS's maintenance of each tunnel ((vpn id, outside IP) → status), read in the background
    maintenance: Mapping[tuple[str, str], TunnelMaintenance] = field(default_factory=dict)
    # router → its drifting VPN config sections, or "unknown (why)"; never a value
    vpn_drift: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TunnelStep:
    """One action on one tunnel (issue 12), decided when no router heal starts."""

    action: TunnelAction
    router: str
    vpn_connection_id: str
    outside_ip: str
    applied_ago: float | None = None  # seconds since AWS applied its maintenance
    attempt: int = 1  # re-initiations: this one ...
    attempts: int = 1  # ... of at most this many
    auto_apply_after: float | None = None  # applying: when AWS would have done it itself

    @property
    def key(self) -> str:
        return f"{self.vpn_connection_id}/{self.outside_ip}"


@dataclass(frozen=True)
class TunnelWait:
    """A tunnel that needs something vpnwatch will not do now (an operator may)."""

    router: str
    outside_ip: str
    hold: Hold  # ladder-exhausted (re-initiations used up), paused, not-leader, pair-guard, ...
    action: TunnelAction
    detail: str = ""  # the guard's own words
    attempts: int = 0


@dataclass(frozen=True)
class Wait:
    """Why one failed router is not acted on this cycle."""

    hold: Hold
    router: str
    failure: str = ""  # what is wrong: "hub-r1 unreachable for 50 s"
    action: Action | None = None  # what would be done (or, verifying: what was done)
    detail: str = ""  # the guard's own words
    seconds_left: float = 0.0
    alert: str | None = None


@dataclass(frozen=True)
class Decision:
    """Everything one cycle decided, acted on or not."""

    action: Action | None = None  # the heal to start ...
    router: str | None = None  # ... on this router
    failure: str = ""  # ... because of this ("hub-r1 unreachable for 50 s")
    request_id: str | None = None  # ... or because an operator asked
    hold: Hold | None = None  # why nothing starts, fleet-wide
    detail: str = ""  # the fleet-wide hold's words
    waits: tuple[Wait, ...] = ()  # why each failed router is left alone
    alert: str | None = None  # something an operator should look at
    opened_breaker: str | None = None  # the breaker opened this cycle, for this reason
    resume: tuple[str, ...] = ()  # heal ids to continue (past their point of no return)
    abandon: tuple[tuple[str, str], ...] = ()  # (heal id, why): never got that far
    answers: tuple[RequestAnswer, ...] = ()  # operator requests taken this cycle
    tunnel: TunnelStep | None = None  # a tunnel action (only when no heal starts)
    tunnel_waits: tuple[TunnelWait, ...] = ()
    rehearsal_failed: tuple[tuple[str, str], ...] = ()  # (router, failed check): shown only
    vpn_drift: tuple[tuple[str, str], ...] = ()  # (router, sections or unknown): shown only

    @property
    def acts(self) -> bool:
        return self.action is not None
