"""The audit trail: one entry per mutation (done, failed, held) and per "would have", written
through the state store as a fenced append, so a process that lost the lease writes none."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vpnwatch.statestore.api import Fence, FenceLost, StateStore


class AuditTrail:
    def __init__(
        self, store: StateStore, fence: Callable[[], Fence | None], clock: Callable[[], float]
    ) -> None:
        self._store = store
        self._fence = fence
        self._clock = clock

    def _current(self) -> Fence:
        fence = self._fence()
        if fence is None:
            raise FenceLost("this process does not hold the lease")
        return fence

    def confirm(self) -> None:
        """Raise FenceLost unless this process still leads (right before a mutation)."""
        self._store.confirm(self._current())

    def record(self, **fields: Any) -> dict[str, Any]:
        fence = self._current()
        entry = {"time": round(self._clock(), 3), **fields, "fence": fence.token}
        self._store.audit(entry, fence=fence)
        return entry
