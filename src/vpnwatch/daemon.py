"""The asyncio loop: observe → snapshot → verdicts → reason, every interval (DESIGN §2)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from vpnwatch.config import Config
from vpnwatch.healing import HealController
from vpnwatch.health import HealthSettings, RouterHistory, evaluate, tunnel_verdicts
from vpnwatch.metrics import ControlState, CycleResult, Metrics
from vpnwatch.model import RouterAwsView, RouterObservation, Snapshot
from vpnwatch.observe import AwsObserver, RouterObserver, RouterPlan, observe_once, plan_routers
from vpnwatch.sdnotify import Notifier
from vpnwatch.summary import observation_reason


def health_settings(config: Config) -> HealthSettings:
    return HealthSettings(
        failures=config.health.failures,
        min_failed_seconds=config.health.min_failed_seconds,
        flap_window_seconds=config.health.flap_window_seconds,
        min_prefixes={r.name: s.expect.min_prefixes for s in config.sites for r in s.routers},
    )


class Daemon:
    def __init__(
        self,
        config: Config,
        *,
        aws: AwsObserver,
        routers: RouterObserver | None,
        metrics: Metrics | None,
        control: ControlState,
        log: Any,
        clock: Callable[[], float] = time.time,
        notifier: Notifier | None = None,
        controller: HealController | None = None,
        plans: Callable[[], tuple[RouterPlan, ...]] | None = None,
        after_cycle: Callable[[CycleResult], None] | None = None,
    ) -> None:
        self.config = config
        self._aws = aws
        self._routers = routers
        self._metrics = metrics
        self.control = control
        self._log = log
        self._clock = clock
        self._notifier = notifier or Notifier()
        self._plans_provider = plans or (lambda: plan_routers(config))
        self._plans: tuple[RouterPlan, ...] = self._plans_provider()
        self.controller = controller
        self._after_cycle = after_cycle
        self._settings = health_settings(config)
        self._histories: dict[str, RouterHistory] = {}
        self.latest: CycleResult | None = None
        self.cycles = 0

    def healthy(self) -> bool:
        """Liveness: the loop finished a cycle recently (or has not had time to yet)."""
        if self.latest is None:
            return True
        return self._clock() - self.latest.finished_at < 3 * self.config.health.interval + 10

    def ready(self) -> bool:
        return self.latest is not None

    async def _observe(self) -> Snapshot:
        # The adapters bound their own calls; this deadline is the last line of defence.
        deadline = self.config.health.interval * 2
        try:
            async with asyncio.timeout(deadline):
                return await observe_once(self._plans, self._aws, self._routers, clock=self._clock)
        except TimeoutError:
            now = self._clock()
            reason = f"cycle did not finish within {deadline:g} s"
            return Snapshot(
                taken_at=now,
                duration_seconds=deadline,
                routers=tuple(
                    RouterObservation(
                        p.name,
                        p.site,
                        p.role,
                        RouterAwsView(p.name, p.selector.region, None, None, (), error=reason),
                        None,
                    )
                    for p in self._plans
                ),
                errors=(("aws", reason),),
            )

    async def run_cycle(self) -> CycleResult:
        self._plans = self._plans_provider()  # a heal may have moved a router to a new instance
        snapshot = await self._observe()
        now = self._clock()
        verdicts, self._histories = evaluate(snapshot, self._histories, now, self._settings)
        tunnels = tunnel_verdicts(snapshot)
        errors = list(snapshot.errors)
        for obs in snapshot.routers:
            if obs.ssh is not None and obs.ssh.error_kind is not None:
                kind = obs.ssh.error_kind.value
                errors.append(({"parse": "parse", "host-key": "hostkey"}.get(kind, "ssh"), kind))
        reason = observation_reason(verdicts)
        result = CycleResult(snapshot, verdicts, tunnels, reason, finished_at=self._clock())
        self.latest = result  # what was seen is published even if acting fails below
        if self.controller is not None:
            reason = self._act(result, reason)
            result = replace(result, reason=reason)
        self.latest = result
        self.cycles += 1
        if self._after_cycle is not None:
            self._after_cycle(result)
        if self._metrics is not None:
            self._metrics.poll_duration.observe(snapshot.duration_seconds)
            self._metrics.count_errors(errors)
        self._log.info(
            "cycle",
            reason=reason,
            cycle=self.cycles,
            duration_s=round(snapshot.duration_seconds, 3),
            errors=len(errors),
        )
        return result

    def _act(self, result: CycleResult, observed: str) -> str:
        assert self.controller is not None
        try:
            for heal_id in self.controller.resume(result):
                self._log.warning("resumed unfinished heal", heal_id=heal_id)
            return self.controller.step(result, observed).reason
        except Exception as exc:  # a bug or bad state file must not blind the watcher
            self._log.error("acting failed", error=f"{type(exc).__name__}: {exc}")
            self.controller.acting_failed = True
            return f"{observed}; no action: acting failed ({type(exc).__name__}: {exc})"

    async def run(self, stop: asyncio.Event) -> None:
        """Cycle every interval until `stop`; a stop interrupts a cycle in flight."""
        interval = self.config.health.interval
        loop = asyncio.get_running_loop()
        stopper = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                started = loop.time()
                cycle = asyncio.create_task(self.run_cycle())
                await asyncio.wait({cycle, stopper}, return_when=asyncio.FIRST_COMPLETED)
                if not cycle.done():
                    cycle.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await cycle
                    break
                if cycle.exception() is not None:  # a bug must not kill the watcher
                    exc = cycle.exception()
                    self._log.error("cycle crashed", error=f"{type(exc).__name__}: {exc}")
                else:
                    self._notifier.watchdog()  # a loop that completes cycles is alive
                    if self.cycles == 1:
                        self._notifier.ready()
                remaining = max(0.0, interval - (loop.time() - started))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(stopper), timeout=remaining)
        finally:
            stopper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stopper
            self._notifier.stopping()


def install_signal_handlers(stop: asyncio.Event, on_usr1: Callable[[], None] | None = None) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if on_usr1 is not None:
        loop.add_signal_handler(signal.SIGUSR1, on_usr1)
