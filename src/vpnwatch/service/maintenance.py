"""Reads AWS's maintenance status of every tunnel in the background (issue 12).

GetVpnTunnelReplacementStatus is one call per tunnel, so it never rides on the cycle: the
cycle's AWS calls stay a few per region however many tunnels there are. After each cycle the
loop hands over what it saw; a sweep of every tunnel starts every `maintenance.interval`
seconds, and a tunnel seen DOWN without a recent maintenance record is read when it goes down
and again every `maintenance.recheck` seconds (for `maintenance.recent` seconds), so a
replacement is recognised within a cycle or two, not ten minutes later. Reads run as one
background task, `max_concurrency` at a time, started no faster than `calls_per_second`.

The results are plain data (`view()`), which the loop puts into the cycle's Facts. When AWS
says the API is not for us (UnsupportedOperation, UnauthorizedOperation...) the feature turns
off with one log line, and is probed again once an hour.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from vpnwatch.adapters.vpn_maintenance import FeatureUnavailable, VpnMaintenanceApi
from vpnwatch.config import Config
from vpnwatch.core.cycle import CycleResult
from vpnwatch.core.maintenance import applied_ago
from vpnwatch.model import TunnelMaintenance
from vpnwatch.vocabulary import TunnelStatus

Key = tuple[str, str]
PROBE_AGAIN = 3600.0  # seconds until a feature turned off is tried once more


class MaintenanceWatcher:
    def __init__(
        self,
        api: VpnMaintenanceApi,
        config: Callable[[], Config],
        *,
        log: Any,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._api = api
        self._config = config
        self._log = log
        self._clock = clock
        self._sleep = sleep
        self._book: dict[Key, TunnelMaintenance] = {}
        self._read_at: dict[Key, float] = {}  # last attempt, answered or not
        self._down_since: dict[Key, float] = {}
        self._last_sweep: float | None = None
        self._off: str | None = None  # why the feature is off
        self._off_at = 0.0
        self._task: asyncio.Task[None] | None = None
        self.reads = 0  # answered reads since start (tests, benchmarks)

    # ------------------------------------------------------------ what the loop uses

    def view(self) -> Mapping[Key, TunnelMaintenance]:
        return dict(self._book)

    @property
    def off(self) -> str | None:
        return self._off

    def note_applied(self, key: Key, at: float) -> None:
        """vpnwatch applied the pending maintenance itself: what the next read would say."""
        old = self._book.get(key)
        if old is not None:
            self._book[key] = TunnelMaintenance(key[0], key[1], False, None, at, at)

    def after_cycle(self, result: CycleResult) -> None:
        """Start the reads that are due, unless some are still running."""
        rules = self._config().maintenance
        if not rules.enabled:
            return
        now = self._clock()
        regions: dict[Key, str] = {}
        status: dict[Key, TunnelStatus] = {}
        for obs in result.snapshot.routers:
            if obs.aws.known:
                for t in obs.aws.tunnels:
                    regions[(t.vpn_connection_id, t.outside_ip)] = obs.aws.region
                    status[(t.vpn_connection_id, t.outside_ip)] = t.status
        if not regions:
            return  # nothing seen this cycle (AWS unknown): keep what is known
        for gone in set(self._book) - set(regions):
            self._book.pop(gone, None)
        for key, state in status.items():
            if state is TunnelStatus.DOWN:
                self._down_since.setdefault(key, now)
            else:
                self._down_since.pop(key, None)
        if self._task is not None and not self._task.done():
            return
        if self._off is not None:
            if now - self._off_at < PROBE_AGAIN:
                return
            due = [next(iter(sorted(regions)))]  # one probe
        elif self._last_sweep is None or now - self._last_sweep >= rules.interval:
            self._last_sweep = now
            due = sorted(regions)
        else:
            due = [k for k in sorted(self._down_since) if k in regions and self._recheck(k, now)]
        if due:
            reads = [(regions[k], k) for k in due]
            self._task = asyncio.create_task(self._read_all(reads), name="vpnwatch-maintenance")

    def _recheck(self, key: Key, now: float) -> bool:
        rules = self._config().maintenance
        if now - self._down_since[key] > rules.recent:
            return False  # down for long: the slow sweep is enough
        if applied_ago(self._book.get(key), now, rules.recent) is not None:
            return False  # already explained by an applied maintenance
        read_at = self._read_at.get(key, float("-inf"))
        return read_at < self._down_since[key] or now - read_at >= rules.recheck

    # ------------------------------------------------------------ the reads

    async def _read_all(self, reads: list[tuple[str, Key]]) -> None:
        rules = self._config().maintenance
        gate = asyncio.Semaphore(rules.max_concurrency)
        failures: list[str] = []
        unavailable: list[str] = []

        async def one(region: str, key: Key) -> None:
            async with gate:
                if unavailable:
                    return
                self._read_at[key] = self._clock()
                try:
                    found = await self._api.replacement_status(region, *key, self._clock())
                except FeatureUnavailable as exc:
                    unavailable.append(str(exc))
                    return
                except Exception as exc:  # this tunnel stays as last read
                    failures.append(f"{key[0]} {key[1]}: {type(exc).__name__}: {exc}")
                    return
                self.reads += 1
                self._book[key] = found

        started: list[asyncio.Task[None]] = []
        for n, (region, key) in enumerate(reads):
            if unavailable:
                break
            if n:
                await self._sleep(1.0 / rules.calls_per_second)
            started.append(asyncio.create_task(one(region, key)))
        await asyncio.gather(*started)
        if unavailable:
            self._turn_off(unavailable[0])
            return
        if self._off is not None:
            self._off = None
            self._last_sweep = None  # read everything now
            self._log.warning("AWS tunnel maintenance status readable again")
        if failures:
            self._log.warning(
                "tunnel maintenance status unread",
                unread=len(failures),
                of=len(reads),
                first=failures[0],
            )

    def _turn_off(self, why: str) -> None:
        self._off_at = self._clock()
        if self._off is None:
            self._log.error(
                "AWS tunnel maintenance status unavailable: maintenance awareness off",
                why=why,
                hint="allow ec2:GetVpnTunnelReplacementStatus (deploy/iam/policy.json)",
            )
        self._off = why
        self._book.clear()

    async def wait_idle(self) -> None:
        """Until the reads started so far are done (tests, benchmarks)."""
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._task)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
