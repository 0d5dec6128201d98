"""The daemon's rehearsals: every router's replacement preflight on a slow schedule.

After each cycle the loop calls `run_due(now, views, skip)`; at most one background task
rehearses, one router after another, those whose last rehearsal is older than
`heal.rehearsal_interval` (0: never). Skipped: routers being healed, and routers without a
valid backup yet (nothing to restore: `VpnwatchBackupMissing` says so, and a fresh install
would otherwise fail every rehearsal until the first pull). It never runs on a cycle's
path, never blocks observation and never raises into the loop.

Every process rehearses, the lease holder and standbys alike: a rehearsal makes only reads
and DryRun calls, and a standby's credentials are the ones that act after a failover, so
its IAM drift is worth finding too. (A standby reads the backups stored when it started;
one started before any backup existed rehearses after its next restart.)

The latest result per router is kept here and in `ControlState.rehearsals` (rendered at
scrape time as `vpnwatch_rehearsal_ok{router}`); failures also go into the reason line.
A router without an observed instance (crashed, being replaced) keeps its last result.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from typing import Any

from vpnwatch.heal.preflight import Check
from vpnwatch.heal.rehearse import Rehearsal
from vpnwatch.metrics import ControlState
from vpnwatch.model import RouterAwsView

Rehearse = Callable[[str, RouterAwsView], Awaitable[Rehearsal]]


class Rehearsals:
    def __init__(
        self,
        rehearse: Rehearse,
        *,
        interval: Callable[[], float],
        deadline: Callable[[], float],
        control: ControlState,
        clock: Callable[[], float],
        log: Any,
    ) -> None:
        self._rehearse = rehearse
        self._interval = interval
        self._deadline = deadline
        self._control = control
        self._clock = clock
        self._log = log
        self._latest: dict[str, Rehearsal] = {}
        self._task: asyncio.Task[None] | None = None
        self._all_due = False  # after a reload: rehearse every router again now

    @property
    def latest(self) -> Mapping[str, Rehearsal]:
        return dict(self._latest)

    def failures(self) -> dict[str, str]:
        """Router → its first failed check, for the reason line."""
        return {r: result.failure() for r, result in self._latest.items() if not result.ok}

    def due(
        self, now: float, views: Mapping[str, RouterAwsView], skip: Collection[str]
    ) -> list[str]:
        interval = self._interval()
        if interval <= 0:
            return []
        due = []
        for router, view in sorted(views.items()):
            if router in skip or view.error or view.instance is None:
                continue
            last = self._latest.get(router)
            if last is None or self._all_due or now - last.at >= interval:
                due.append(router)
        return due

    def run_due(
        self, now: float, views: Mapping[str, RouterAwsView], skip: Collection[str]
    ) -> None:
        """Start one background task for the routers due (none while one runs)."""
        if self._task is not None and not self._task.done():
            return
        due = self.due(now, views, skip)
        self._all_due = False
        if due:
            picked = {r: views[r] for r in due}
            self._task = asyncio.create_task(self._run(due, picked), name="vpnwatch-rehearsals")

    async def _run(self, routers: Sequence[str], views: Mapping[str, RouterAwsView]) -> None:
        for router in routers:
            try:
                async with asyncio.timeout(self._deadline()):
                    result = await self._rehearse(router, views[router])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug or a hung call must not end the schedule
                why = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
                detail = f"{why}: {exc}" if str(exc) else why
                result = Rehearsal(
                    router, False, (Check("rehearsal", False, detail),), self._clock()
                )
            self._record(result)

    def rehearse_all_soon(self) -> None:
        """After a config reload (heal.ami, heal.strategy ...): every router at the next
        cycle, whatever its schedule; the results so far stay exported until then."""
        self._all_due = True

    def _record(self, result: Rehearsal) -> None:
        before = self._latest.get(result.router)
        self._latest[result.router] = result
        self._control.rehearsals[result.router] = (result.ok, result.at)
        if result.ok and (before is None or not before.ok):
            self._log.info("rehearsal ok", router=result.router)
        elif not result.ok:
            self._log.error("rehearsal failed", router=result.router, failed=result.failure())

    async def wait_idle(self) -> None:
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
