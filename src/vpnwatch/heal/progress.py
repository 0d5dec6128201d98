"""Heal progress, persisted after every step so a restarted daemon resumes (DESIGN §5)."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from vpnwatch.statefiles import read_json, write_json_atomic


@dataclass(frozen=True)
class HealRecord:
    heal_id: str
    router: str
    action: str  # reset-bgp | restart-vpn | reboot | replace
    strategy: str  # same-ip | eni | (soft actions: "-")
    started_at: float
    dry_run: bool
    old_instance_id: str | None
    steps_done: tuple[str, ...] = ()
    status: str = "running"  # running | done | failed
    error: str | None = None
    new_instance_id: str | None = None
    launch_spec: dict[str, Any] | None = None
    allocation_id: str | None = None
    elastic_ip: str | None = None
    host_key: str | None = None
    backup_version: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def client_token(self) -> str:
        """Stable per heal: a resumed launch returns the same instance, never a second one."""
        return "vpnwatch-" + hashlib.sha256(self.heal_id.encode()).hexdigest()[:40]

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
        out = []
        for path in sorted(self._dir.glob("*.json")):
            data = read_json(path, None)
            if data is None:
                continue
            data["steps_done"] = tuple(data.get("steps_done", ()))
            out.append(HealRecord(**data))
        return out

    def unfinished(self) -> list[HealRecord]:
        return [r for r in self.load_all() if r.status == "running"]
