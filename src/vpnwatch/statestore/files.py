"""The file backend of the state store: JSON documents under the state directory.

    guards.live.json, guards.dry-run.json   guard memory, one per mode
    hysteresis.json, control.json           failure streaks; the operator's pause
    fleet.json                              relaunched routers: instance, verified host key
    heals/<heal id>.json                    heal progress, one per heal
    requests/<request id>.json              operator requests and their answers
    audit.jsonl (heal.audit_file)           the audit trail, one JSON object a line

Every write is atomic (`atomicfile`), made under the directory's writer lock (fcntl), and,
when fenced, only while this process still holds the lease with that fence. An unreadable
document is never overwritten: it is reported, and the loop stays observe-only until an
operator repairs it (`vpnwatch state check|reset`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from vpnwatch.atomicfile import append_line, private_dir, write_atomic
from vpnwatch.core.decision import StateProblem
from vpnwatch.core.memory import GuardMemory, Memory
from vpnwatch.core.records import HealRecord, OperatorRequest, RequestAnswer
from vpnwatch.statestore import documents as doc
from vpnwatch.statestore.api import Fence, FenceLost, Fleet, Stored
from vpnwatch.statestore.lease import FileLease, writer_lock
from vpnwatch.vocabulary import Mode

T = TypeVar("T")
LEGACY_GUARDS = "guards.json"  # before the store: one file, its mode inside
HEALS, REQUESTS = "heals", "requests"
ANSWERED_KEPT_SECONDS = 7 * 86_400.0


def guards_file(mode: Mode) -> str:
    return f"guards.{mode}.json"


def _why(exc: OSError) -> str:
    return "a directory, not a file" if isinstance(exc, IsADirectoryError) else str(exc.strerror)


class FileStateStore:
    def __init__(
        self, state_dir: Path, *, audit_file: Path | None = None, lease: FileLease | None = None
    ) -> None:
        self.dir = state_dir
        self.audit_file = audit_file or state_dir / "audit.jsonl"
        self._lease = lease
        self._cache: dict[Path, tuple[tuple[int, int, int], Any]] = {}
        self._written: dict[str, Any] = {}  # name → the value this process last wrote

    # ---------------------------------------------------------------- reading

    def _load(self, name: str, kind: doc.Kind[T], default: T) -> tuple[T, StateProblem | None]:
        """The document (`default` when absent) and what is wrong with it, if anything."""
        try:
            return self._read(name, kind), None
        except FileNotFoundError:
            return default, None
        except doc.Unreadable as exc:
            return default, StateProblem(name, str(exc))

    def _problem(self, name: str, kind: doc.Kind[T]) -> StateProblem | None:
        try:
            self._read(name, kind)
        except FileNotFoundError:
            return None
        except doc.Unreadable as exc:
            return StateProblem(name, str(exc))
        return None

    def _read(self, name: str, kind: doc.Kind[T]) -> T:
        """Raises FileNotFoundError (absent) or Unreadable (there, but unusable)."""
        path = self.dir / name
        try:
            info = path.stat()
            stamp = (info.st_ino, info.st_mtime_ns, info.st_size)
            cached = self._cache.get(path)
            if cached is not None and cached[0] == stamp:
                hit: T = cached[1]
                return hit
            raw = path.read_bytes()
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise doc.Unreadable(f"unreadable: {_why(exc)}") from None
        value = kind.decode(raw)
        self._cache[path] = (stamp, value)
        return value

    def _guards(self, mode: Mode) -> tuple[GuardMemory, StateProblem | None]:
        name = guards_file(mode)
        if (self.dir / name).exists() or not (self.dir / LEGACY_GUARDS).exists():
            return self._load(name, doc.GUARDS, GuardMemory())
        legacy, problem = self._load(LEGACY_GUARDS, doc.LEGACY_GUARDS, GuardMemory())
        if problem is not None:
            return legacy, problem
        try:
            was_dry = json.loads((self.dir / LEGACY_GUARDS).read_bytes()).get("dry_run", True)
        except (OSError, ValueError, AttributeError):
            return GuardMemory(), StateProblem(LEGACY_GUARDS, "unreadable")
        return (legacy if Mode.of(bool(was_dry)) is mode else GuardMemory()), None

    def _records(self, folder: str, kind: doc.Kind[T]) -> tuple[list[T], list[StateProblem]]:
        path = self.dir / folder
        try:
            names = sorted(p.name for p in path.iterdir() if p.name.endswith(".json"))
        except FileNotFoundError:
            return [], []
        except OSError as exc:
            return [], [StateProblem(folder, f"unreadable: {_why(exc)}")]
        values: list[T] = []
        problems: list[StateProblem] = []
        for name in names:
            try:
                values.append(self._read(f"{folder}/{name}", kind))
            except FileNotFoundError:
                continue  # answered and pruned meanwhile
            except doc.Unreadable as exc:
                problems.append(StateProblem(f"{folder}/{name}", str(exc)))
        return values, problems

    def heal_records(self) -> tuple[tuple[HealRecord, ...], tuple[StateProblem, ...]]:
        records, problems = self._records(HEALS, doc.HEAL)
        return tuple(sorted(records, key=lambda r: r.started_at)), tuple(problems)

    def requests(self) -> tuple[tuple[OperatorRequest, ...], tuple[StateProblem, ...]]:
        requests, problems = self._records(REQUESTS, doc.REQUEST)
        ordered = sorted(requests, key=lambda r: (r.submitted_at, r.request_id))
        return tuple(ordered), tuple(problems)

    def request(self, request_id: str) -> OperatorRequest | None:
        try:
            return self._read(f"{REQUESTS}/{request_id}.json", doc.REQUEST)
        except (FileNotFoundError, doc.Unreadable):
            return None

    def read(self, mode: Mode) -> Stored:
        guards, p1 = self._guards(mode)
        hysteresis, p2 = self._load("hysteresis.json", doc.HYSTERESIS, doc.Hysteresis())
        control, p3 = self._load("control.json", doc.CONTROL, doc.Control())
        fleet, p4 = self._load("fleet.json", doc.FLEET, Fleet())
        heals, p5 = self.heal_records()
        requests, p6 = self.requests()
        problems = tuple(p for p in (p1, p2, p3, p4) if p is not None) + p5 + p6
        return Stored(
            memory=Memory(hysteresis.routers, guards, control.paused),
            fleet=fleet,
            unfinished=tuple(r for r in heals if r.unfinished),
            requests=tuple(r for r in requests if r.pending),
            problems=problems,
        )

    def check(self) -> Sequence[tuple[str, StateProblem | None]]:
        self._cache.clear()  # an operator asks: read everything afresh
        fixed = [guards_file(m) for m in Mode] + ["hysteresis.json", "control.json", "fleet.json"]
        kinds: dict[str, doc.Kind[Any]] = {
            guards_file(Mode.LIVE): doc.GUARDS,
            guards_file(Mode.DRY_RUN): doc.GUARDS,
            LEGACY_GUARDS: doc.LEGACY_GUARDS,
            "hysteresis.json": doc.HYSTERESIS,
            "control.json": doc.CONTROL,
            "fleet.json": doc.FLEET,
        }
        out: list[tuple[str, StateProblem | None]] = []
        for name in [*fixed, LEGACY_GUARDS]:
            if os.path.lexists(self.dir / name):
                out.append((name, self._problem(name, kinds[name])))
        folders: tuple[tuple[str, doc.Kind[Any]], ...] = (
            (HEALS, doc.HEAL),
            (REQUESTS, doc.REQUEST),
        )
        for folder, kind in folders:
            try:
                names = sorted(p.name for p in (self.dir / folder).iterdir())
            except FileNotFoundError:
                continue
            except OSError as exc:
                out.append((folder, StateProblem(folder, f"unreadable: {_why(exc)}")))
                continue
            for name in names:
                if name.endswith(".json"):
                    out.append((f"{folder}/{name}", self._problem(f"{folder}/{name}", kind)))
        return out

    # ---------------------------------------------------------------- writing

    def _fenced(self, fence: Fence) -> None:
        """Call with the writer lock held: refuse a write whose fence is not current."""
        if self._lease is None or not self._lease.still_valid(fence):
            raise FenceLost(f"fence {fence.token} of {fence.holder} is no longer current")

    def confirm(self, fence: Fence) -> None:
        with writer_lock(self.dir):
            self._fenced(fence)

    def _put(self, name: str, data: bytes) -> None:
        path = self.dir / name
        private_dir(path.parent)
        write_atomic(path, data)

    def _write(self, name: str, data: bytes, fence: Fence | None) -> None:
        """Atomically, under the writer lock, and (fenced) only while `fence` is current."""
        with writer_lock(self.dir):
            if fence is not None:
                self._fenced(fence)
            self._put(name, data)

    def _save(self, name: str, kind: doc.Kind[T], value: T, fence: Fence) -> None:
        """Write `value` unless it is what the file already holds."""
        if self._written.get(name) == value:
            return
        self._write(name, kind.encode(value), fence)
        self._written[name] = value

    def save_memory(self, mode: Mode, memory: Memory, *, fence: Fence) -> None:
        self._save(guards_file(mode), doc.GUARDS, memory.guards, fence)
        self._save(
            "hysteresis.json", doc.HYSTERESIS, doc.Hysteresis(dict(memory.hysteresis)), fence
        )
        self._save("control.json", doc.CONTROL, doc.Control(memory.paused), fence)

    def save_heal(self, record: HealRecord, *, fence: Fence) -> None:
        self._write(f"{HEALS}/{record.heal_id}.json", doc.HEAL.encode(record), fence)

    def answer_request(self, answer: RequestAnswer, now: float, *, fence: Fence) -> None:
        name = f"{REQUESTS}/{answer.request_id}.json"
        with writer_lock(self.dir):  # taken exactly once, even against a withdrawal
            request = self.request(answer.request_id)
            if request is None or not request.pending:
                return
            self._fenced(fence)
            self._put(name, doc.REQUEST.encode(answer.apply(request, now)))
        self._prune_answered(now)

    def _prune_answered(self, now: float) -> None:
        requests, _ = self.requests()
        for r in requests:
            if r.answered_at is not None and now - r.answered_at > ANSWERED_KEPT_SECONDS:
                (self.dir / REQUESTS / f"{r.request_id}.json").unlink(missing_ok=True)

    def record_instance(
        self, router: str, instance_id: str, host_key: str | None, *, fence: Fence
    ) -> None:
        fleet, problem = self._load("fleet.json", doc.FLEET, Fleet())
        if problem is not None:  # never overwrite what an operator has to look at
            raise FenceLost(f"fleet.json is unreadable ({problem.why}): not recording {router}")
        keys = {**fleet.host_keys, **({router: host_key} if host_key else {})}
        updated = Fleet({**fleet.instances, router: instance_id}, keys)
        self._write("fleet.json", doc.FLEET.encode(updated), fence)

    def audit(self, entry: Mapping[str, Any], *, fence: Fence) -> None:
        with writer_lock(self.dir):
            self._fenced(fence)
            private_dir(self.audit_file.parent)
            append_line(self.audit_file, json.dumps(dict(entry), sort_keys=True))

    # ---------------------------------------------------------------- unfenced

    def submit(self, request: OperatorRequest) -> None:
        self._write(f"{REQUESTS}/{request.request_id}.json", doc.REQUEST.encode(request), None)

    def quarantine(self, name: str, now: float = 0.0) -> str:
        path = (self.dir / name).resolve()
        if self.dir.resolve() not in path.parents:
            raise ValueError(f"{name} is not inside the state directory {self.dir}")
        target = path.with_name(f"{path.name}.corrupt-{int(now)}")
        with writer_lock(self.dir):
            path.rename(target)
        self._cache.pop(self.dir / name, None)
        self._written.pop(name, None)
        return str(target)

    def withdraw(self, request: OperatorRequest) -> None:
        """Take back a request nobody answered (the CLI gave up waiting)."""
        name = self.dir / REQUESTS / f"{request.request_id}.json"
        with writer_lock(self.dir):
            current = self.request(request.request_id)
            if current is not None and current.pending:
                name.unlink(missing_ok=True)
