"""The asyncio loop: read state → observe → step → persist → act → publish, every interval.

Each cycle reads what the state store holds (one read), observes AWS and the routers, calls
the pure `core.cycle.step`, then — as the lease holder only — saves the new memory, answers
the operator requests and carries out the Decision, in that order (a crash after any of these
leaves nothing counted twice and nothing lost). The one-line reason is logged every cycle.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from vpnwatch.adapters.systemd import Notifier
from vpnwatch.config import Config
from vpnwatch.core.cycle import CycleResult, heal_id_of, step
from vpnwatch.core.decision import Decision, Facts
from vpnwatch.core.memory import Memory
from vpnwatch.core.reason import reason_line
from vpnwatch.core.records import OperatorRequest
from vpnwatch.heal.executor import HealExecutor, HealTarget
from vpnwatch.heal.tunnel_actions import TunnelActor
from vpnwatch.metrics import ControlState, Metrics
from vpnwatch.model import RouterAwsView, RouterObservation, Snapshot
from vpnwatch.observe import AwsObserver, RouterObserver, RouterPlan, observe_once, plan_routers
from vpnwatch.service.maintenance import MaintenanceWatcher
from vpnwatch.service.rehearsals import Rehearsals
from vpnwatch.service.vpn_drift import VpnDriftWatch
from vpnwatch.statestore.api import Fence, Fleet, Lease, StateStore, Stored
from vpnwatch.vocabulary import Hold, Mode


class ConfigRef:
    """The config in force; a reload (SIGHUP) replaces it between two cycles."""

    def __init__(self, config: Config) -> None:
        self.value = config

    def __call__(self) -> Config:
        return self.value


class BackupView(Protocol):
    def latest_valid_backup(self, router: str) -> tuple[str, str] | None: ...


def heal_target(config: Config, obs: RouterObservation) -> HealTarget:
    entry = next(r for s in config.sites for r in s.routers if r.name == obs.name)
    neighbors = tuple(
        sorted({t.aws_inside_ip for c in obs.aws.connections for t in c.tunnels if t.aws_inside_ip})
    )
    return HealTarget(
        router=obs.name,
        region=obs.aws.region,
        instance_id=obs.aws.instance.instance_id if obs.aws.instance else None,
        elastic_ip=obs.aws.elastic_ip,
        ssh_host=entry.ssh_host,
        ssh_port=entry.ssh_port or config.ssh.port,
        neighbors=neighbors,
    )


@dataclass
class Parts:
    """What the loop works with (built by `service.wiring`)."""

    aws: AwsObserver
    routers: RouterObserver | None
    store: StateStore
    lease: Lease
    control: ControlState
    executor: HealExecutor | None = None
    backups: BackupView | None = None
    metrics: Metrics | None = None
    after_cycle: Callable[[CycleResult, Stored], None] | None = None  # the lease holder's
    on_leading: Callable[[], Awaitable[None]] | None = None  # once per takeover, before acting
    rehearsals: Rehearsals | None = None  # every process's
    maintenance: MaintenanceWatcher | None = None  # AWS's tunnel maintenance (issue 12)
    tunnels: TunnelActor | None = None  # carries out tunnel actions
    vpn_drift: VpnDriftWatch | None = None  # checked on the lease holder's backup pulls


class Loop:
    def __init__(
        self,
        config: ConfigRef,
        parts: Parts,
        *,
        log: Any,
        clock: Callable[[], float] = time.time,
        notifier: Notifier | None = None,
        auto: bool = True,
    ) -> None:
        self.config_ref = config
        self.parts = parts
        self._log = log
        self.clock = clock
        self.notifier = notifier or Notifier()
        self._auto = auto  # False: only operator requests are acted on (the CLI)
        self._was_leader: bool | None = None
        self._took_over: Fence | None = None  # a takeover not yet audited
        self._problems_seen: tuple[str, ...] = ()
        self.latest: CycleResult | None = None
        self.memory = Memory()
        self.fleet: Fleet = parts.store.read(self.mode).fleet
        self.cycles = 0

    @property
    def config(self) -> Config:
        return self.config_ref.value

    @property
    def mode(self) -> Mode:
        return Mode.of(self.config.heal.dry_run)

    def healthy(self) -> bool:
        """Liveness: the loop finished a cycle recently (or has not had time to yet)."""
        if self.latest is None:
            return True
        return self.clock() - self.latest.finished_at < 3 * self.config.health.interval + 10

    def ready(self) -> bool:
        return self.latest is not None

    def switch_paused(self) -> bool:
        return self.config.heal.paused or self.config.pause_file.exists()

    def paused(self) -> bool:
        """Read by every heal before each mutation."""
        return self.memory.paused or self.switch_paused()

    def host_key(self, router: str) -> str | None:
        """The verified host key of a router a heal relaunched (None: use known_hosts)."""
        return self.fleet.host_keys.get(router)

    # ---------------------------------------------------------------- one cycle

    async def _observe(self, plans: Sequence[RouterPlan]) -> Snapshot:
        # The adapters bound their own calls; this deadline is the last line of defence.
        deadline = self.config.health.interval * 2
        try:
            async with asyncio.timeout(deadline):
                return await observe_once(
                    plans, self.parts.aws, self.parts.routers, clock=self.clock
                )
        except TimeoutError:
            now = self.clock()
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
                    for p in plans
                ),
                errors=(("aws", reason),),
            )

    def _fence(self) -> Fence | None:
        lease = self.parts.lease
        fence = lease.current() or lease.acquire()
        leading = fence is not None
        if leading != self._was_leader:
            if leading:
                self._log.warning("leading", fence=fence.token if fence else None)
                self._took_over = fence
            else:
                self._log.warning("standby", leader=lease.holder())
            self._was_leader = leading
        return fence

    async def _took_lease(self, fence: Fence, now: float) -> None:
        """Once per takeover: say so in the audit trail, reload what the old leader left."""
        if self.parts.on_leading is not None:
            await self.parts.on_leading()
        if self.config.lock.backend != "none":  # one host: a takeover is just a restart
            previous = self.parts.lease.previous()
            self.parts.store.audit(
                {"time": round(now, 3), "event": "lease", "holder": fence.holder,
                 "fence": fence.token, "result": f"leading with fence {fence.token}"
                 + (f" (after {previous})" if previous else "")},
                fence=fence,
            )  # fmt: skip
        self._took_over = None

    def _facts(self, stored: Stored, fence: Fence | None, *, as_leader: bool) -> Facts:
        executor, backups = self.parts.executor, self.parts.backups
        busy = executor.busy() if executor is not None else {}
        if self.parts.tunnels is not None:
            busy = {**self.parts.tunnels.busy(), **busy}
        watcher = self.parts.maintenance
        settled = executor.settled() if executor is not None else frozenset()
        routers = [o for s in self.config.sites for o in s.routers]
        return Facts(
            has_backup={
                r.name: backups is not None and backups.latest_valid_backup(r.name) is not None
                for r in routers
            },
            leader=fence is not None or as_leader,
            leader_name=self.parts.lease.holder() or "",
            can_heal=executor is not None and self.config.heal.enabled,
            switch_paused=self.switch_paused(),
            busy=busy,
            unfinished=tuple(
                r for r in stored.unfinished if r.router not in busy and r.heal_id not in settled
            ),
            state_problems=stored.problems,
            maintenance=watcher.view() if watcher is not None else {},
            rehearsal_failed=self.parts.rehearsals.failures() if self.parts.rehearsals else {},
            vpn_drift=self.parts.vpn_drift.reasons() if self.parts.vpn_drift else {},
        )

    async def run_cycle(
        self,
        *,
        snapshot: Snapshot | None = None,
        preview: Sequence[OperatorRequest] | None = None,
    ) -> CycleResult:
        """One cycle. `preview`: decide as the leader would with these requests added, and
        change nothing (what `vpnwatch heal` shows before it asks for confirmation)."""
        config, mode = self.config, self.mode
        stored = self.parts.store.read(mode)
        self.fleet = stored.fleet  # a heal may have moved a router to a new instance
        fence = self._fence() if preview is None else None
        if fence is not None and fence == self._took_over and not stored.problems:
            try:
                await self._took_lease(fence, self.clock())
            except Exception as exc:  # acting waits for the next cycle; observing goes on
                self._log.error("taking over failed", error=f"{type(exc).__name__}: {exc}")
                fence = None
        plans = plan_routers(config, stored.fleet.instances)
        if snapshot is None:
            snapshot = await self._observe(plans)
        now = self.clock()
        facts = self._facts(stored, fence, as_leader=preview is not None)
        requests = list(preview) if preview is not None else list(stored.requests)
        memory = replace(
            stored.memory, hysteresis=self.memory.hysteresis or stored.memory.hysteresis
        )
        result, memory, decision = step(
            snapshot, memory, requests, facts, now, config, auto=self._auto
        )
        if preview is not None:
            return result
        if fence is not None and not stored.problems:
            result = await self._carry_out(result, memory, decision, stored, fence, now)
        self.memory = memory
        self._publish(result, snapshot, stored)
        return result

    async def _carry_out(
        self,
        result: CycleResult,
        memory: Memory,
        decision: Decision,
        stored: Stored,
        fence: Fence,
        now: float,
    ) -> CycleResult:
        store, executor = self.parts.store, self.parts.executor
        try:
            store.save_memory(self.mode, memory, fence=fence)
            asked = {r.request_id: r for r in stored.requests}
            for answer in decision.answers:
                store.answer_request(answer, now, fence=fence)
                request = asked.get(answer.request_id)
                entry = {
                    "time": round(now, 3),
                    "request": answer.request_id,
                    "kind": str(request.kind) if request else "",
                    "by": request.by if request else "",
                    "result": answer.answer,
                    "fence": fence.token,
                }
                store.audit(entry, fence=fence)
                self._log.warning(
                    "operator request", request=answer.request_id, answer=answer.answer
                )
            if decision.opened_breaker:
                self._log.error("circuit breaker opened", reason=decision.opened_breaker)
            if executor is not None:
                self._start_heals(result, decision, stored, now)
            self._start_tunnel_action(result, decision)
        except Exception as exc:  # a full disk or a lost lease must not blind the watcher
            self._log.error("acting failed", error=f"{type(exc).__name__}: {exc}")
            failed = replace(
                decision,
                hold=Hold.ACTING_FAILED,
                detail=f"{type(exc).__name__}: {exc}",
                action=None,
            )
            return replace(result, decision=failed, reason=reason_line(failed, result.verdicts))
        return result

    def _start_heals(
        self, result: CycleResult, decision: Decision, stored: Stored, now: float
    ) -> None:
        executor = self.parts.executor
        assert executor is not None
        config = self.config
        observed = {o.name: o for o in result.snapshot.routers}
        records = {r.heal_id: r for r in stored.unfinished}
        for heal_id, why in decision.abandon:
            executor.abandon(records[heal_id], why)
        for heal_id in decision.resume:
            record = records[heal_id]
            executor.resume(record, heal_target(config, observed[record.router]))
            self._log.warning("resumed unfinished heal", heal_id=heal_id)
        new_id = heal_id_of(decision, now)
        if decision.action is not None and decision.router is not None and new_id is not None:
            target = heal_target(config, observed[decision.router])
            executor.start(
                decision.action,
                target,
                heal_id=new_id,
                now=now,
                dry_run=config.heal.dry_run,
                request_id=decision.request_id,
            )
            self._log.warning(
                "heal started",
                heal_id=new_id,
                router=decision.router,
                action=str(decision.action),
                dry_run=config.heal.dry_run,
            )

    def _start_tunnel_action(self, result: CycleResult, decision: Decision) -> None:
        step, actor = decision.tunnel, self.parts.tunnels
        if step is None or actor is None:
            return
        obs = next(o for o in result.snapshot.routers if o.name == step.router)
        target = heal_target(self.config, obs)
        actor.start(step, target, region=obs.aws.region, dry_run=self.config.heal.dry_run)
        self._log.warning(
            "tunnel action started",
            action=str(step.action),
            router=step.router,
            tunnel=step.key,
            dry_run=self.config.heal.dry_run,
        )

    def _publish(self, result: CycleResult, snapshot: Snapshot, stored: Stored) -> None:
        self.latest = result
        self.cycles += 1
        problems = tuple(f"{p.file}: {p.why}" for p in stored.problems)
        if problems != self._problems_seen:
            for p in stored.problems:
                self._log.error("state unreadable: observing only", file=p.file, why=p.why)
            self._problems_seen = problems
        c = self.parts.control
        c.dry_run = self.config.heal.dry_run
        c.paused = self.paused()
        c.leader = self.parts.lease.current() is not None
        c.breaker_open = self.memory.guards.breaker_open
        c.heal_steps = dict(self.parts.executor.busy()) if self.parts.executor else {}
        c.state_errors = {p.file: p.why for p in stored.problems}
        if self.parts.vpn_drift is not None:
            self.parts.vpn_drift.observed({o.name: o.aws for o in snapshot.routers})
        if self.parts.after_cycle is not None and c.leader:
            self.parts.after_cycle(result, stored)
        if self.parts.maintenance is not None:
            self.parts.maintenance.after_cycle(result)
        if self.parts.rehearsals is not None:  # background: never on the next cycle's path
            views = {o.name: o.aws for o in snapshot.routers}
            backups = self.parts.backups  # no backup yet: VpnwatchBackupMissing says so
            unready = {r for r in views if not backups or not backups.latest_valid_backup(r)}
            self.parts.rehearsals.run_due(self.clock(), views, skip=set(c.heal_steps) | unready)
        if self.parts.metrics is not None:
            self.parts.metrics.poll_duration.observe(snapshot.duration_seconds)
            self.parts.metrics.count_errors(result.errors)
        self._log.info(
            "cycle",
            reason=result.reason,
            cycle=self.cycles,
            duration_s=round(snapshot.duration_seconds, 3),
            errors=len(result.errors),
        )

    # ---------------------------------------------------------------- every interval

    async def run(self, stop: asyncio.Event, reload: Callable[[], None] | None = None) -> None:
        """Cycle every interval until `stop`; a stop interrupts a cycle in flight."""
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
                    self.notifier.watchdog()  # a loop that completes cycles is alive
                    if self.cycles == 1:
                        self.notifier.ready()
                remaining = max(0.0, self.config.health.interval - (loop.time() - started))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(stopper), timeout=remaining)
        finally:
            stopper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stopper
            self.notifier.stopping()
