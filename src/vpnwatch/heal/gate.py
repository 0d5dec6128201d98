"""The one checkpoint every mutation passes: dry-run, leader check, audit, metrics."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from vpnwatch.errors import PermanentError
from vpnwatch.heal.audit import AuditLog

T = TypeVar("T")


class NotLeader(PermanentError):
    """This replica lost the leader lock: it must not mutate anything."""


class HealPaused(Exception):
    """Actions were paused while a heal ran: it stops before its next mutation and stays
    unfinished, to be resumed once unpaused (an operator may be working by hand)."""


class MutationGate:
    def __init__(
        self,
        *,
        dry_run: Callable[[], bool],
        is_leader: Callable[[], bool],
        audit: AuditLog,
        paused: Callable[[], bool] = lambda: False,
        log: Any,
        on_would_have: Callable[[str, str], None] | None = None,
    ) -> None:
        self._dry_run = dry_run
        self._is_leader = is_leader
        self._paused = paused
        self._audit = audit
        self._log = log
        self._on_would_have = on_would_have

    @property
    def dry_run(self) -> bool:
        return self._dry_run()

    @property
    def paused(self) -> bool:
        return self._paused()

    async def mutate(
        self,
        *,
        heal_id: str,
        router: str,
        action: str,
        step: str,
        description: str,
        call: Callable[[], Awaitable[T]],
    ) -> T | None:
        """Run `call` unless in dry-run (then log "would have …" and return None)."""
        common = {"heal_id": heal_id, "router": router, "action": action, "step": step}
        if self._dry_run():
            self._log.info("would have " + description, **common, dry_run=True)
            self._audit.record(**common, result="would have " + description, dry_run=True)
            if self._on_would_have is not None:
                self._on_would_have(router, action)
            return None
        if self._paused():
            self._audit.record(**common, result="held: paused", dry_run=False)
            raise HealPaused(f"paused: not going to {description}")
        if not self._is_leader():  # checked right before every mutating call
            self._audit.record(**common, result="refused: not leader", dry_run=False)
            raise NotLeader(f"not the leader: refusing to {description}")
        try:
            result = await call()
        except Exception as exc:
            self._audit.record(**common, result=f"failed: {exc}", dry_run=False)
            raise
        self._audit.record(**common, result="done: " + description, dry_run=False)
        self._log.info(description, **common)
        return result
