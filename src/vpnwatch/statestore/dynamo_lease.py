"""The leader lease across hosts: one DynamoDB item, conditional writes, no clock sync.

The item (pk "lease", sk "leader") holds the holder, a random record version `rv`, the
fencing token `fence`, the holder's lease length and, for people only, its wall-clock
renewal time. The algorithm (the one of Patroni's DCS lock and of the DynamoDB lock
client, reduced to conditional writes):

- **Leader.** Renews every `renew_every` (lease/3) with an update conditional on
  `holder = me AND fence = mine AND rv = the one I wrote`, setting a new `rv`. It counts
  itself leader until `sent + lease - margin`, where `sent` is its own monotonic time
  *before* the last successful renewal left: whatever the network did, that write was
  applied after `sent`. Past that instant `current()` says None: it demotes itself without
  asking anyone.
- **Standby.** Reads the item (consistent) every `renew_every`. It notes when, on its own
  monotonic clock, the read that first showed this `rv` returned. Once the same `rv` has
  stood for a whole lease (the longer of its own and the holder's), it takes over with an
  update conditional on that `rv` and the fence it saw, writing `fence + 1`. The holder's
  last renewal was sent before that read returned, so the holder stopped counting itself
  leader at least `margin` before the takeover; `margin` covers clock rate differences and
  a mutation already on the wire.
- A released item (holder "") or no item at all is taken at once; a process that stops
  cleanly releases, so a rolling restart hands over without waiting a lease.

A renewal whose answer was lost may have been applied: its condition then fails on our
own new `rv`. A consistent read that shows us still holding our fence adopts that `rv`.
Anything else that fails a condition means someone else holds a newer fence: demote.

`takeover=False` (the CLI) renews a lease it holds but never takes one that is held.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vpnwatch.errors import ConditionFailed, VpnwatchError
from vpnwatch.statestore.api import Fence, LeaseStatus
from vpnwatch.statestore.table import Item, Table

LEASE_KEY = ("lease", "leader")
_MINE = "#holder = :me AND #fence = :fence AND #rv = :rv"


@dataclass(frozen=True)
class LeaseRecord:
    holder: str  # "" when released
    rv: str
    fence: int
    lease_seconds: float
    renewed_at: float  # the writer's wall clock: shown to people, never compared

    @classmethod
    def of(cls, item: Item) -> LeaseRecord:
        try:
            return cls(
                str(item["holder"]),
                str(item["rv"]),
                int(item["fence"]),
                float(item["lease_seconds"]),
                float(item.get("renewed_at", 0.0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise LeaseUnreadable(f"the lease item is malformed ({type(exc).__name__})") from None


class LeaseUnreadable(Exception):
    """The lease item could not be read (or makes no sense) this time."""


class DynamoLease:
    def __init__(
        self,
        table: Table,
        *,
        holder: str,
        lease_seconds: float,
        renew_every: float,
        margin: float,
        takeover: bool = True,
        log: Any = None,
        monotonic: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        new_rv: Callable[[], str] = lambda: secrets.token_hex(8),
    ) -> None:
        if not 0 < margin < lease_seconds or not 0 < renew_every < lease_seconds:
            raise ValueError("renew_every and margin must be shorter than the lease")
        self._table = table
        self._me = holder
        self._lease = lease_seconds
        self._renew_every = renew_every
        self._margin = margin
        self._takeover = takeover
        self._log = log
        self._mono = monotonic
        self._wall = wall_clock
        self._new_rv = new_rv
        self._state = threading.Lock()  # the fields below; never held during I/O
        self._io = threading.Lock()  # one tick at a time
        self._fence: Fence | None = None
        self._rv = ""
        self._valid_until = 0.0
        self._seen: tuple[str, float] | None = None  # (rv, monotonic time it was first seen)
        self._observed: LeaseRecord | None = None
        self._previous: str | None = None
        self._renew_failures = 0
        self._transitions = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- the Lease protocol

    def current(self) -> Fence | None:
        with self._state:
            if self._fence is not None and self._mono() >= self._valid_until:
                self._demote_locked("lease expired before a renewal succeeded")
            return self._fence

    def acquire(self) -> Fence | None:
        """The daemon's keeper takes the lease in the background: this only reports. Without
        a keeper that takes over (the CLI), try once to take a free (released) lease."""
        fence = self.current()
        if fence is not None or (self._thread is not None and self._takeover):
            return fence
        with self._io:
            try:
                record = self._read()
            except LeaseUnreadable:
                return None
            if record is None or not record.holder:
                self._take(record, why="the lease was free")
        return self.current()

    def holder(self) -> str | None:
        fence = self.current()
        if fence is not None:
            return f"{fence.holder}, fence {fence.token}"
        with self._state:
            record, seen = self._observed, self._seen
        if record is None or not record.holder:
            return None
        text = f"{record.holder}, fence {record.fence}"
        if seen is not None and seen[0] == record.rv:
            quiet = self._mono() - seen[1]
            if quiet > max(self._lease, record.lease_seconds):
                text += f" (not renewed for {quiet:.0f} s)"
        return text

    def previous(self) -> str | None:
        return self._previous

    def status(self) -> LeaseStatus:
        fence = self.current()
        with self._state:
            seen = self._observed.fence if self._observed else 0
            return LeaseStatus(
                fence is not None,
                fence.token if fence else seen,
                self._renew_failures,
                self._transitions,
            )

    def remaining(self) -> float:
        """Seconds this process still counts itself leader (0 when it does not)."""
        with self._state:
            if self._fence is None:
                return 0.0
            return max(0.0, self._valid_until - self._mono())

    def release(self) -> None:
        """Stop the keeper; hand a held lease over at once (holder "")."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self._lease)
            self._thread = None
        with self._io:
            fence = self.current()
            if fence is None:
                return
            try:
                self._table.update(
                    *LEASE_KEY,
                    {"holder": "", "rv": self._new_rv(), "renewed_at": self._wall()},
                    condition=_MINE,
                    values={":me": self._me, ":fence": fence.token, ":rv": self._rv},
                )
            except VpnwatchError as exc:  # it expires by itself; the standby waits a lease
                self._say("lease release failed", error=str(exc))
            with self._state:
                self._demote_locked("released", event="lease released")

    # ---------------------------------------------------------------- the keeper

    def start(self) -> None:
        """Run `tick` in a thread of its own: renewal never waits for a slow cycle."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._keep, name="vpnwatch-lease", daemon=True)
        self._thread.start()

    def _keep(self) -> None:
        while not self._stop.is_set():
            try:
                delay = self.tick()
            except Exception as exc:  # a bug must not stop renewals silently
                self._say("lease tick failed", error=f"{type(exc).__name__}: {exc}")
                delay = self._renew_every
            self._stop.wait(delay)

    def renew_now(self) -> Fence | None:
        """Renew at once (a conditional write): right before a mutation, so the mutation
        starts with a whole lease ahead of it. The fence held afterwards (None: lost)."""
        with self._io:
            fence = self.current()
            if fence is None:
                return None
            try:
                self._renew(fence)
            except LeaseUnreadable:
                with self._state:
                    self._renew_failures += 1
        return self.current()

    def tick(self) -> float:
        """One step: renew (leader) or watch and maybe take over (standby). Returns the
        seconds until the next step."""
        with self._io:
            fence = self.current()
            try:
                return self._renew(fence) if fence is not None else self._watch()
            except LeaseUnreadable:
                if fence is not None:
                    with self._state:
                        self._renew_failures += 1
                return self._renew_every / 2

    def _renew(self, fence: Fence) -> float:
        for _ in range(2):  # the second round only after adopting our own lost write
            sent, rv = self._mono(), self._new_rv()
            try:
                self._table.update(
                    *LEASE_KEY,
                    {"rv": rv, "lease_seconds": self._lease, "renewed_at": self._wall()},
                    condition=_MINE,
                    values={":me": self._me, ":fence": fence.token, ":rv": self._rv},
                )
            except ConditionFailed:
                record = self._read()
                with self._state:
                    if record is not None and (record.holder, record.fence) == (
                        self._me,
                        fence.token,
                    ):
                        self._rv = record.rv  # a renewal of ours landed, its answer did not
                        continue
                    now = record.holder if record and record.holder else "nobody"
                    self._demote_locked(f"fence {fence.token} lost: {now} holds the lease")
                    return self._renew_every
            except VpnwatchError as exc:
                with self._state:
                    self._renew_failures += 1
                self._say("lease renewal failed", error=str(exc), left=round(self.remaining(), 2))
                return self._renew_every / 2
            with self._state:
                if self._fence == fence:
                    self._rv = rv
                    self._valid_until = sent + self._lease - self._margin
            return self._renew_every
        return self._renew_every / 2

    def _watch(self) -> float:
        record = self._read()
        if record is None or not record.holder:
            if self._takeover or self._thread is None:
                self._take(record, why="the lease was free")
            return self._renew_every
        if not self._takeover:
            return self._renew_every
        now = self._mono()  # after the read returned: the rv was there by then
        with self._state:
            if self._seen is None or self._seen[0] != record.rv:
                self._seen = (record.rv, now)
            since = self._seen[1]
        wait = max(self._lease, record.lease_seconds)
        if now - since >= wait:
            self._take(record, why=f"{record.holder} did not renew for {now - since:.1f} s")
            return self._renew_every
        return min(self._renew_every, since + wait - now)

    def _take(self, record: LeaseRecord | None, *, why: str) -> None:
        sent, rv = self._mono(), self._new_rv()
        fence = (record.fence if record else 0) + 1
        item: dict[str, str | int | float | bool] = {
            "holder": self._me,
            "rv": rv,
            "fence": fence,
            "lease_seconds": self._lease,
        }
        try:
            if record is None:
                self._table.put(
                    {"pk": LEASE_KEY[0], "sk": LEASE_KEY[1], **item, "renewed_at": self._wall()},
                    condition="attribute_not_exists(#pk)",
                )
            else:
                self._table.update(
                    *LEASE_KEY,
                    {**item, "renewed_at": self._wall()},
                    condition="#rv = :rv AND #fence = :fence",
                    values={":rv": record.rv, ":fence": record.fence},
                )
        except ConditionFailed:
            return  # someone else was quicker: watch them
        except VpnwatchError as exc:
            self._say("lease takeover failed", error=str(exc))
            return
        with self._state:
            self._fence = Fence(self._me, fence)
            self._rv = rv
            self._valid_until = sent + self._lease - self._margin
            self._previous = (
                None if record is None else f"{record.holder or 'released'}, fence {record.fence}"
            )
            self._seen = None
            self._transitions += 1
        self._say("lease taken", fence=fence, why=why, previous=self._previous)

    def _read(self) -> LeaseRecord | None:
        """The lease item (None: there is none). LeaseUnreadable when the store cannot be
        read: what was observed last stays, and the takeover window starts afresh (a
        standby takes over only what it watched, unchanged, for a whole lease)."""
        try:
            item = self._table.get(*LEASE_KEY)
            record = LeaseRecord.of(item) if item is not None else None
        except (VpnwatchError, LeaseUnreadable) as exc:
            with self._state:
                self._seen = None
            self._say("lease read failed", error=str(exc))
            raise LeaseUnreadable(str(exc)) from None
        with self._state:
            self._observed = record
        return record

    def _demote_locked(self, why: str, event: str = "lease lost: standing by") -> None:
        if self._fence is None:
            return
        fence, self._fence = self._fence, None
        self._transitions += 1
        self._seen = None
        self._say(event, fence=fence.token, why=why)

    def _say(self, event: str, **fields: Any) -> None:
        if self._log is not None:
            self._log.warning(event, **fields)
