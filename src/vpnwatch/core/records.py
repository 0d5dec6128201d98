"""Records that outlive a cycle: heal progress and operator requests (frozen; the state
store persists them, the executor and the loop write them)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any

from vpnwatch.vocabulary import Action, HealStatus, RequestKind, RequestStatus


@dataclass(frozen=True)
class HealRecord:
    """One heal, persisted after every step so a restarted daemon resumes it."""

    heal_id: str
    router: str
    action: Action
    strategy: str  # same-ip | eni | (other actions: "-")
    started_at: float
    dry_run: bool
    old_instance_id: str | None
    steps_done: tuple[str, ...] = ()
    status: HealStatus = HealStatus.RUNNING
    error: str | None = None
    new_instance_id: str | None = None
    launch_spec: dict[str, Any] | None = None
    allocation_id: str | None = None
    elastic_ip: str | None = None
    host_key: str | None = None
    backup_version: str | None = None
    request_id: str | None = None  # the operator request that asked for it, if any
    extra: dict[str, Any] = field(default_factory=dict)
    launch_attempt: int = 0  # bumped when a launched twin died: the next one gets a new token

    def __post_init__(self) -> None:
        # the workflow passes plain strings ("done"); the record holds the vocabulary's words
        object.__setattr__(self, "action", Action(self.action))
        object.__setattr__(self, "status", HealStatus(self.status))

    def launch_token(self, fence: int) -> str:
        """RunInstances' ClientToken: one per heal, launch attempt and leadership term
        (fencing token). A retried launch within a term returns the same instance; after a
        twin died, the next attempt is a new launch; a new leader (or a restarted daemon)
        first adopts the instance tagged with this heal, and launches under its own token
        only when there is none (same-ip: the private IP, eni: the interface still allow
        one twin only)."""
        seed = self.heal_id if self.launch_attempt == 0 else f"{self.heal_id}#{self.launch_attempt}"
        seed += f"/fence {fence}"
        return "vpnwatch-" + hashlib.sha256(seed.encode()).hexdigest()[:40]

    @property
    def unfinished(self) -> bool:
        return self.status is HealStatus.RUNNING

    def done(self, step: str, **changes: Any) -> HealRecord:
        return replace(self, steps_done=(*self.steps_done, step), **changes)


def make_heal_id(router: str, action: Action, now: float) -> str:
    return f"{router}-{action}-{int(now)}"


@dataclass(frozen=True)
class OperatorRequest:
    """Something an operator asked for (`vpnwatch heal`, `--reset-breaker`, `pause`,
    `resume`); the leader's loop takes it and answers it with the same guards it uses."""

    request_id: str
    kind: RequestKind
    submitted_at: float
    by: str  # user@host (pid): who asked, for the audit trail
    router: str | None = None  # heal only
    action: Action | None = None  # heal only
    dry_run: bool | None = None  # heal only: the mode the operator expects it to run in
    status: RequestStatus = RequestStatus.PENDING
    answer: str = ""  # what became of it, in words
    answered_at: float | None = None
    heal_id: str | None = None  # a heal request that started a heal

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", RequestKind(self.kind))
        object.__setattr__(self, "status", RequestStatus(self.status))
        if self.action is not None:
            object.__setattr__(self, "action", Action(self.action))

    @property
    def pending(self) -> bool:
        return self.status is RequestStatus.PENDING

    @property
    def what(self) -> str:
        if self.kind is RequestKind.HEAL:
            return f"{self.action} {self.router}"
        return str(self.kind)


@dataclass(frozen=True)
class RequestAnswer:
    """The loop's answer to one request this cycle."""

    request_id: str
    status: RequestStatus
    answer: str
    heal_id: str | None = None

    def apply(self, request: OperatorRequest, now: float) -> OperatorRequest:
        return replace(
            request, status=self.status, answer=self.answer, answered_at=now, heal_id=self.heal_id
        )
