"""The one checkpoint every mutation passes: dry-run, pause, lease, audit.

A gate belongs to one heal: its mode is the heal's own (a reload that switches the daemon to
live never turns a dry-run heal into a live one, nor the reverse).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from vpnwatch.errors import PermanentError
from vpnwatch.heal.audit import AuditTrail
from vpnwatch.statestore.api import FenceLost

T = TypeVar("T")


class NotLeader(PermanentError):
    """This process no longer holds the lease: it must not mutate anything."""


class HealPaused(Exception):
    """Actions were paused while a heal ran: it stops before its next mutation and stays
    unfinished, to be resumed once unpaused (an operator may be working by hand)."""


class MutationGate:
    def __init__(
        self,
        *,
        dry_run: bool,
        is_leader: Callable[[], bool],
        audit: AuditTrail,
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
        return self._dry_run

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
        common = {"heal_id": heal_id, "router": router, "action": str(action), "step": step}
        if not self._is_leader():  # checked right before every call, dry-run or not
            self._log.error("not the leader: refusing to " + description, **common)
            raise NotLeader(f"not the leader: refusing to {description}")
        try:
            return await self._mutate(common, description, call)
        except FenceLost as exc:  # the audit write was refused: a newer leader exists
            raise NotLeader(f"lost the lease: refusing to {description} ({exc})") from None

    async def _mutate(
        self, common: dict[str, str], description: str, call: Callable[[], Awaitable[T]]
    ) -> T | None:
        if self._dry_run:
            self._log.info("would have " + description, **common, dry_run=True)
            self._audit.record(**common, result="would have " + description, dry_run=True)
            if self._on_would_have is not None:
                self._on_would_have(common["router"], common["action"])
            return None
        if self._paused():
            self._audit.record(**common, result="held: paused", dry_run=False)
            raise HealPaused(f"paused: not going to {description}")
        self._audit.confirm()  # a newer leader may exist: ask the store, not our own belief
        try:
            result = await call()
        except Exception as exc:
            self._audit.record(**common, result=f"failed: {exc}", dry_run=False)
            raise
        self._audit.record(**common, result="done: " + description, dry_run=False)
        self._log.info(description, **common)
        return result
