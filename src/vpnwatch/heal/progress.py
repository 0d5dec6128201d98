"""Where a heal's progress goes after every step (the executor fences it to the state store)."""

from __future__ import annotations

from typing import Protocol

from vpnwatch.core.records import HealRecord


class ProgressStore(Protocol):
    def save(self, record: HealRecord) -> None: ...
