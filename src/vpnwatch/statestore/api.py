"""The state store and lease interfaces every backend implements.

What is stored: the guard memory per mode (breaker, episodes, cooldowns, replacements), the
hysteresis memory, the operator's pause, where relaunched routers live (fleet), heal progress
records, operator requests and the audit trail.

Fencing. Leadership is a `Lease`; holding it gives a `Fence` (holder, token), and the token
grows on every takeover. Every write that changes safety state takes the writer's fence and
is *conditional* on it: the backend refuses it with `FenceLost` once another process holds
a newer fence, so a stale leader (paused, partitioned, slow) cannot overwrite what the new
leader decided, and it demotes itself. The only unfenced write is `submit` (anyone may ask).

- File backend (one host): the lease is an flock on `<state_dir>/leader.lock` with the
  token in `leader.json`; a fenced write checks, under the store's writer lock, that this
  process still holds the flock with that token, then writes atomically.
- DynamoDB backend (`dynamo.py`, `dynamo_lease.py`; active/standby across hosts): each
  fenced write is a `TransactWriteItems` with a `ConditionCheck` on the lease item
  (`fence = :mine AND holder = :me`) next to its `Put`s; `read` is one consistent `Query`;
  `submit` is a `Put` with `attribute_not_exists(pk)`; `answer_request` adds
  `status = pending` to its condition, so a request is taken exactly once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from vpnwatch.core.decision import StateProblem
from vpnwatch.core.memory import Memory
from vpnwatch.core.records import HealRecord, OperatorRequest, RequestAnswer
from vpnwatch.errors import PermanentError
from vpnwatch.vocabulary import Mode


@dataclass(frozen=True)
class Fence:
    """Proof of leadership, carried by every fenced write."""

    holder: str  # who holds the lease ("host pid N")
    token: int  # grows with every takeover


class FenceLost(PermanentError):
    """A fenced write was refused: another process holds a newer lease. Stop acting."""


@dataclass(frozen=True)
class Fleet:
    """What heals changed about the fleet: the instance each relaunched router runs on now,
    and its verified host key (read from the new instance's console)."""

    instances: Mapping[str, str] = field(default_factory=dict)
    host_keys: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Stored:
    """One read of everything a cycle needs. Unreadable pieces are left at their defaults
    and named in `problems`: while there are any, the loop acts on nothing."""

    memory: Memory
    fleet: Fleet
    unfinished: tuple[HealRecord, ...]  # heal records still "running"
    requests: tuple[OperatorRequest, ...]  # pending operator requests, oldest first
    problems: tuple[StateProblem, ...]


@dataclass(frozen=True)
class LeaseStatus:
    """What the metrics say about the lease (vpnwatch_leader, vpnwatch_lease_*)."""

    leader: bool
    fence: int  # the fence this process holds, else the newest it has seen (0: none)
    renew_failures: int  # renewals that failed (throttled, unreachable, timed out)
    transitions: int  # times this process became leader or stopped being it


class Lease(Protocol):
    def acquire(self) -> Fence | None:
        """Take the lease if nobody holds it (never blocks); None: another process leads."""
        ...

    def current(self) -> Fence | None:
        """The fence this process holds now (None: not the leader)."""
        ...

    def holder(self) -> str | None:
        """Who leads, as far as this process can tell (for a standby's reason line)."""
        ...

    def previous(self) -> str | None:
        """Who led before this process took the lease (for the audit trail), if known."""
        ...

    def status(self) -> LeaseStatus: ...

    def release(self) -> None: ...


class StateStore(Protocol):
    # ---------------------------------------------------------------- reads (never fenced)

    def read(self, mode: Mode) -> Stored: ...

    def heal_records(self) -> tuple[tuple[HealRecord, ...], tuple[StateProblem, ...]]: ...

    def requests(self) -> tuple[tuple[OperatorRequest, ...], tuple[StateProblem, ...]]: ...

    def request(self, request_id: str) -> OperatorRequest | None: ...

    def check(self) -> Sequence[tuple[str, StateProblem | None]]:
        """Every document and whether it reads (`vpnwatch state check`)."""
        ...

    # ---------------------------------------------------------------- fenced writes

    def confirm(self, fence: Fence) -> None:
        """Raise FenceLost unless `fence` is still current: checked right before every
        mutation of the world (a conditional no-op; DynamoDB: a consistent read of the
        lease item, or a ConditionCheck-only transaction)."""
        ...

    def save_memory(self, mode: Mode, memory: Memory, *, fence: Fence) -> None:
        """The guards of `mode`, the hysteresis memory and the operator's pause."""
        ...

    def save_heal(self, record: HealRecord, *, fence: Fence) -> None: ...

    def answer_request(self, answer: RequestAnswer, now: float, *, fence: Fence) -> None:
        """Take a pending request (a request already answered stays as it is)."""
        ...

    def record_instance(
        self, router: str, instance_id: str, host_key: str | None, *, fence: Fence
    ) -> None: ...

    def audit(self, entry: Mapping[str, Any], *, fence: Fence) -> None:
        """Append one entry to the audit trail."""
        ...

    # ---------------------------------------------------------------- unfenced

    def submit(self, request: OperatorRequest) -> None:
        """An operator's request, for whoever leads to take."""
        ...

    def quarantine(self, name: str, now: float) -> str:
        """Move an unreadable document aside (never deleted); says where it went."""
        ...

    def withdraw(self, request: OperatorRequest) -> None:
        """Take back a request nobody answered (the CLI gave up waiting)."""
        ...
