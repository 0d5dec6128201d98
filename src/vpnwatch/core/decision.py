"""What a cycle knows beyond its snapshot (`Facts`) and what it decided (`Decision`), as data.

The reason line is rendered from a Decision by `reason.py` and nowhere else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from vpnwatch.core.records import HealRecord, RequestAnswer
from vpnwatch.vocabulary import Action, Hold


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
    rehearsal_failed: tuple[tuple[str, str], ...] = ()  # (router, failed check): shown only

    @property
    def acts(self) -> bool:
        return self.action is not None
