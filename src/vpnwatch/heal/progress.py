"""Heal progress, persisted after every step so a restarted daemon resumes (DESIGN §5)."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from vpnwatch.statefiles import read_json, write_json_atomic


@dataclass(frozen=True)
class HealRecord:
    heal_id: str
    router: str
    action: str  # reset-bgp | restart-vpn | reboot | stop-start | replace
    strategy: str  # same-ip | eni | (other actions: "-")
    started_at: float
    dry_run: bool
    old_instance_id: str | None
    steps_done: tuple[str, ...] = ()
    status: str = "running"  # running | done | failed | abandoned
    error: str | None = None
    new_instance_id: str | None = None
    launch_spec: dict[str, Any] | None = None
    allocation_id: str | None = None
    elastic_ip: str | None = None
    host_key: str | None = None
    backup_version: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    launch_attempt: int = 0  # bumped when a launched twin died: the next one gets a new token

    @property
    def client_token(self) -> str:
        """Stable per heal and launch attempt: a resumed launch returns the same instance,
        never a second one; after a twin died, the next attempt is a new launch."""
        seed = self.heal_id if self.launch_attempt == 0 else f"{self.heal_id}#{self.launch_attempt}"
        return "vpnwatch-" + hashlib.sha256(seed.encode()).hexdigest()[:40]

    def done(self, step: str, **changes: Any) -> HealRecord:
        return replace(self, steps_done=(*self.steps_done, step), **changes)


def make_heal_id(router: str, action: str, now: float) -> str:
    return f"{router}-{action}-{int(now)}"


class ProgressStore:
    def __init__(self, state_dir: Path) -> None:
        self._dir = state_dir / "heals"

    def _path(self, heal_id: str) -> Path:
        return self._dir / f"{heal_id}.json"

    def save(self, record: HealRecord) -> None:
        data = asdict(record)
        data["steps_done"] = list(record.steps_done)
        write_json_atomic(self._path(record.heal_id), data)

    def load_all(self) -> list[HealRecord]:
        if not self._dir.exists():
            return []
        found = (_record(read_json(p, None)) for p in sorted(self._dir.glob("*.json")))
        return [r for r in found if r is not None]

    def load(self, heal_id: str) -> HealRecord | None:
        """The record as last saved (None when there is none)."""
        return _record(read_json(self._path(heal_id), None))

    def unfinished(self) -> list[HealRecord]:
        return [r for r in self.load_all() if r.status == "running"]


def _record(data: Any) -> HealRecord | None:
    if not isinstance(data, dict):
        return None
    data["steps_done"] = tuple(data.get("steps_done", ()))
    known = {f.name for f in fields(HealRecord)}
    return HealRecord(**{k: v for k, v in data.items() if k in known})
