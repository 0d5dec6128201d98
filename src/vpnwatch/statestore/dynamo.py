"""The DynamoDB backend of the state store: the state of an active/standby pair in one table.

    pk "lease", sk "leader"            the lease (dynamo_lease.py)
    pk "state", sk "doc#<name>"        guards.live.json, guards.dry-run.json, hysteresis.json,
                                       control.json, fleet.json
    pk "state", sk "heal#<heal id>"    heal progress, one item per heal
    pk "state", sk "request#<id>"      operator requests (+ `status`, for the conditions)
    pk "state", sk "corrupt#<name>#<t>" what `vpnwatch state reset` moved aside
    pk "audit", sk "<time>#<fence>#<random>"  the audit trail, one item per entry

Each item's `body` is the same versioned JSON document the file backend writes, so both
read and validate alike and name problems alike ("heals/<id>.json"). `read` is one
consistent Query of the "state" partition. Every write the leader makes is a
TransactWriteItems whose first item is a ConditionCheck on the lease item (`holder = me
AND fence = mine`): a stale leader's write is refused (FenceLost) however late it arrives.
The audit trail is one small item per entry (an item holds at most 400 KB; the trail grows).

When DynamoDB cannot be read, `read` returns the last state it read with the problem named
(`dynamodb:<table>`): the loop keeps observing (relaunched routers where they are now) and
acts on nothing.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from vpnwatch.core.decision import StateProblem
from vpnwatch.core.memory import GuardMemory, Memory
from vpnwatch.core.records import HealRecord, OperatorRequest, RequestAnswer
from vpnwatch.errors import ConditionFailed, PermanentError, VpnwatchError
from vpnwatch.statestore import documents as doc
from vpnwatch.statestore.api import Fence, FenceLost, Fleet, Stored
from vpnwatch.statestore.dynamo_lease import LEASE_KEY, DynamoLease
from vpnwatch.statestore.table import Item, Table
from vpnwatch.vocabulary import Mode, RequestStatus

T = TypeVar("T")
STATE, AUDIT = "state", "audit"
ANSWERED_KEPT_SECONDS = 7 * 86_400.0
MAX_BODY_BYTES = 350_000  # DynamoDB's item limit is 400 KB, keys and names included
_DOCS: dict[str, doc.Kind[Any]] = {
    "guards.live.json": doc.GUARDS,
    "guards.dry-run.json": doc.GUARDS,
    "hysteresis.json": doc.HYSTERESIS,
    "control.json": doc.CONTROL,
    "fleet.json": doc.FLEET,
}
_PENDING = str(RequestStatus.PENDING)


class DocumentTooLarge(PermanentError):
    """A state document does not fit in one DynamoDB item."""


def _sk_of(name: str) -> str:
    """The sort key of a logical document name (the file backend's relative path)."""
    for folder, prefix in (("heals/", "heal#"), ("requests/", "request#")):
        if name.startswith(folder) and name.endswith(".json"):
            return prefix + name.removeprefix(folder).removesuffix(".json")
    return "doc#" + name


def _name_of(sk: str) -> str:
    kind, _, rest = sk.partition("#")
    if kind == "heal":
        return f"heals/{rest}.json"
    if kind == "request":
        return f"requests/{rest}.json"
    return rest


def _kind_of(sk: str) -> doc.Kind[Any] | None:
    kind, _, rest = sk.partition("#")
    if kind == "heal":
        return doc.HEAL
    if kind == "request":
        return doc.REQUEST
    return _DOCS.get(rest) if kind == "doc" else None


def _decode(item: Item, kind: doc.Kind[T]) -> T:
    body = item.get("body")
    if not isinstance(body, str):
        raise doc.Unreadable("no document body")
    return kind.decode(body.encode())


class DynamoStateStore:
    def __init__(
        self,
        table: Table,
        lease: DynamoLease,
        *,
        mutation_budget: float = 0.0,
    ) -> None:
        self._table = table
        self._lease = lease
        self._budget = mutation_budget  # the longest an AWS mutation may take, retries included
        self.name = f"dynamodb:{table.name}"
        self._written: dict[str, Any] = {}  # name → what this process last wrote...
        self._written_fence: Fence | None = None  # ...while holding this fence
        self._last: dict[Mode, Stored] = {}

    # ---------------------------------------------------------------- reading

    def _items(self) -> list[Item]:
        return self._table.query(STATE)

    def _decoded(
        self, items: Sequence[Item]
    ) -> tuple[dict[str, Any], list[HealRecord], list[OperatorRequest], list[StateProblem]]:
        docs: dict[str, Any] = {}
        heals: list[HealRecord] = []
        requests: list[OperatorRequest] = []
        problems: list[StateProblem] = []
        for item in items:
            sk = str(item.get("sk", ""))
            kind = _kind_of(sk)
            if kind is None:
                continue  # quarantined or unknown: not state
            try:
                value = _decode(item, kind)
            except doc.Unreadable as exc:
                problems.append(StateProblem(_name_of(sk), str(exc)))
                continue
            if kind is doc.HEAL:
                heals.append(value)
            elif kind is doc.REQUEST:
                requests.append(value)
            else:
                docs[_name_of(sk)] = value
        heals.sort(key=lambda r: r.started_at)
        requests.sort(key=lambda r: (r.submitted_at, r.request_id))
        return docs, heals, requests, problems

    def read(self, mode: Mode) -> Stored:
        try:
            docs, heals, requests, problems = self._decoded(self._items())
        except VpnwatchError as exc:
            last = self._last.get(mode) or Stored(Memory(), Fleet(), (), (), ())
            problem = StateProblem(self.name, f"unreachable: {exc}")
            return replace(last, requests=(), problems=(problem,))
        guards: GuardMemory = docs.get(f"guards.{mode}.json", GuardMemory())
        hysteresis: doc.Hysteresis = docs.get("hysteresis.json", doc.Hysteresis())
        control: doc.Control = docs.get("control.json", doc.Control())
        stored = Stored(
            memory=Memory(hysteresis.routers, guards, control.paused),
            fleet=docs.get("fleet.json", Fleet()),
            unfinished=tuple(r for r in heals if r.unfinished),
            requests=tuple(r for r in requests if r.pending),
            problems=tuple(problems),
        )
        if not problems:
            self._last[mode] = stored
        return stored

    def heal_records(self) -> tuple[tuple[HealRecord, ...], tuple[StateProblem, ...]]:
        _, heals, _, problems = self._decoded(self._items())
        return tuple(heals), tuple(p for p in problems if p.file.startswith("heals/"))

    def requests(self) -> tuple[tuple[OperatorRequest, ...], tuple[StateProblem, ...]]:
        _, _, requests, problems = self._decoded(self._items())
        return tuple(requests), tuple(p for p in problems if p.file.startswith("requests/"))

    def request(self, request_id: str) -> OperatorRequest | None:
        try:
            item = self._table.get(STATE, f"request#{request_id}")
            return None if item is None else _decode(item, doc.REQUEST)
        except (VpnwatchError, doc.Unreadable):
            return None

    def check(self) -> Sequence[tuple[str, StateProblem | None]]:
        out: list[tuple[str, StateProblem | None]] = []
        for item in self._items():
            sk = str(item.get("sk", ""))
            kind = _kind_of(sk)
            if kind is None:
                continue
            try:
                _decode(item, kind)
                out.append((_name_of(sk), None))
            except doc.Unreadable as exc:
                out.append((_name_of(sk), StateProblem(_name_of(sk), str(exc))))
        return out

    def audit_trail(self) -> list[dict[str, Any]]:
        """Every audit entry, oldest first (`vpnwatch` never reads it back; people do)."""
        return [json.loads(str(i["body"])) for i in self._table.query(AUDIT) if "body" in i]

    # ---------------------------------------------------------------- fenced writes

    def _mine(self, fence: Fence) -> None:
        """This process must still count itself leader with exactly this fence."""
        if self._lease.current() != fence:
            raise FenceLost(f"fence {fence.token} of {fence.holder} is no longer held here")
        if self._written_fence != fence:  # what another leader wrote since is unknown
            self._written, self._written_fence = {}, fence

    def _check(self, fence: Fence) -> dict[str, Any]:
        return {
            "check": LEASE_KEY,
            "condition": "#holder = :me AND #fence = :fence",
            "values": {":me": fence.holder, ":fence": fence.token},
        }

    def _fenced(self, fence: Fence, writes: Sequence[Mapping[str, Any]]) -> None:
        """One transaction: the lease check, then `writes`. FenceLost if the check fails;
        ConditionFailed (with the writes' own indexes) if only another condition does."""
        self._mine(fence)
        try:
            self._table.transact([self._check(fence), *writes])
        except ConditionFailed as exc:
            if 0 in exc.items:
                raise FenceLost(
                    f"fence {fence.token} of {fence.holder} is no longer current"
                ) from None
            raise ConditionFailed(str(exc), tuple(i - 1 for i in exc.items)) from None

    def _item(self, name: str, body: bytes, fence: Fence | None, **extra: Any) -> Item:
        if len(body) > MAX_BODY_BYTES:
            raise DocumentTooLarge(
                f"{name} is {len(body)} bytes: more than a DynamoDB item holds ({MAX_BODY_BYTES})"
            )
        item: Item = {"pk": STATE, "sk": _sk_of(name), "body": body.decode(), **extra}
        if fence is not None:
            item["fence"] = fence.token
        return item

    def confirm(self, fence: Fence) -> None:
        """Right before a mutation: renew the lease (a write conditional on our fence), then
        make sure what is left of it covers the mutation with all its retries."""
        self._mine(fence)
        if self._lease.renew_now() != fence:
            raise FenceLost(f"fence {fence.token} of {fence.holder} is no longer current")
        left = self._lease.remaining()
        if left < self._budget:
            raise FenceLost(
                f"the lease ends in {left:.1f} s, before a mutation's {self._budget:.1f} s "
                "budget (renewals are failing): not starting one now"
            )

    def save_memory(self, mode: Mode, memory: Memory, *, fence: Fence) -> None:
        self._mine(fence)
        wanted: dict[str, tuple[doc.Kind[Any], Any]] = {
            f"guards.{mode}.json": (doc.GUARDS, memory.guards),
            "hysteresis.json": (doc.HYSTERESIS, doc.Hysteresis(dict(memory.hysteresis))),
            "control.json": (doc.CONTROL, doc.Control(memory.paused)),
        }
        changed = {n: v for n, v in wanted.items() if self._written.get(n) != v[1]}
        if not changed:
            return
        puts = [{"put": self._item(n, k.encode(v), fence)} for n, (k, v) in changed.items()]
        self._fenced(fence, puts)
        self._written.update({n: v for n, (_, v) in changed.items()})

    def save_heal(self, record: HealRecord, *, fence: Fence) -> None:
        name = f"heals/{record.heal_id}.json"
        self._fenced(fence, [{"put": self._item(name, doc.HEAL.encode(record), fence)}])

    def _request_item(self, request: OperatorRequest) -> Item:
        name = f"requests/{request.request_id}.json"
        return self._item(name, doc.REQUEST.encode(request), None, status=str(request.status))

    def answer_request(self, answer: RequestAnswer, now: float, *, fence: Fence) -> None:
        request = self.request(answer.request_id)
        if request is None or not request.pending:
            return
        item = self._request_item(answer.apply(request, now))
        write = {"put": item, "condition": "#status = :pending", "values": {":pending": _PENDING}}
        try:
            self._fenced(fence, [write])
        except ConditionFailed:
            return  # answered (or withdrawn) meanwhile: taken exactly once
        self._prune_answered(now)

    def _prune_answered(self, now: float) -> None:
        requests, _ = self.requests()
        for r in requests:
            if r.answered_at is not None and now - r.answered_at > ANSWERED_KEPT_SECONDS:
                try:
                    self._table.delete(
                        STATE,
                        f"request#{r.request_id}",
                        condition="#status <> :pending",
                        values={":pending": _PENDING},
                    )
                except VpnwatchError:
                    return  # next time

    def record_instance(
        self, router: str, instance_id: str, host_key: str | None, *, fence: Fence
    ) -> None:
        item = self._table.get(STATE, _sk_of("fleet.json"))
        try:
            fleet = Fleet() if item is None else _decode(item, doc.FLEET)
        except doc.Unreadable as exc:  # never overwrite what an operator has to look at
            raise FenceLost(f"fleet.json is unreadable ({exc}): not recording {router}") from None
        keys = {**fleet.host_keys, **({router: host_key} if host_key else {})}
        updated = Fleet({**fleet.instances, router: instance_id}, keys)
        self._fenced(fence, [{"put": self._item("fleet.json", doc.FLEET.encode(updated), fence)}])

    def audit(self, entry: Mapping[str, Any], *, fence: Fence) -> None:
        when = float(entry.get("time", 0.0))
        sk = f"{when:017.6f}#{fence.token:010d}#{secrets.token_hex(4)}"
        body = json.dumps(dict(entry), sort_keys=True)
        # Unconditional put of a unique key: a retried transaction writes the same item.
        self._fenced(fence, [{"put": {"pk": AUDIT, "sk": sk, "body": body, "fence": fence.token}}])

    # ---------------------------------------------------------------- unfenced

    def submit(self, request: OperatorRequest) -> None:
        self._table.put(self._request_item(request), condition="attribute_not_exists(#pk)")

    def withdraw(self, request: OperatorRequest) -> None:
        with contextlib.suppress(ConditionFailed):  # taken meanwhile: it stays, answered
            self._table.delete(
                STATE,
                f"request#{request.request_id}",
                condition="#status = :pending",
                values={":pending": _PENDING},
            )

    def quarantine(self, name: str, now: float) -> str:
        sk = _sk_of(name)
        item = self._table.get(STATE, sk)
        if item is None:
            raise ValueError(f"{name} is not in {self.name}")
        target = f"corrupt#{name}#{int(now)}"
        self._table.transact(
            [
                {"put": {**item, "sk": target}},
                {"delete": (STATE, sk), "condition": "attribute_exists(#pk)"},
            ]
        )
        self._written.pop(name, None)
        return f"{self.name} item {target}"
