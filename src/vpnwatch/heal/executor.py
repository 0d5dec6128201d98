"""Runs heals as tracked tasks while the loop keeps observing (Patroni's async executor).

Soft fixes are one call each; a replacement is the step workflow in `replace.py`, a
stop-start the one in `stop_start.py`. Every heal has a record, saved through the state store
(fenced) after every step; the loop's Decision says which heals to start, resume or abandon,
and this carries it out.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from vpnwatch.adapters.ec2_actions import Ec2Actions
from vpnwatch.adapters.vyos import RouterEndpoint, VyosClient
from vpnwatch.config import Config
from vpnwatch.core.records import HealRecord
from vpnwatch.heal import background
from vpnwatch.heal.audit import AuditTrail
from vpnwatch.heal.context import Backups, ReplaceContext
from vpnwatch.heal.gate import HealPaused, MutationGate, NotLeader
from vpnwatch.heal.replace import Replacement
from vpnwatch.heal.restore import RestoreAccess
from vpnwatch.heal.stop_start import StopStart
from vpnwatch.render.model import RouterIntent
from vpnwatch.statestore.api import Fence, FenceLost, Lease, StateStore
from vpnwatch.vocabulary import Action, HealStatus


@dataclass(frozen=True)
class HealTarget:
    """Where a router is and what it should look like, from the latest observation."""

    router: str
    region: str
    instance_id: str | None
    elastic_ip: str | None
    ssh_host: str | None
    ssh_port: int
    neighbors: tuple[str, ...]  # BGP neighbors it should have (AWS inside addresses)

    def endpoint(self, trusted_key: str | None = None) -> RouterEndpoint:
        endpoint = RouterEndpoint.of_router(
            self.router,
            ssh_host=self.ssh_host,
            elastic_ip=self.elastic_ip,
            port=self.ssh_port,
            trusted_key=trusted_key,
        )
        if endpoint is None:
            raise ValueError(f"{self.router}: no SSH address known")
        return endpoint


# A router mutation: (description, call) → through the heal's gate.
VpnIntentSource = Callable[[str, str, str | None], Awaitable[RouterIntent]]
Mutate = Callable[[str, Callable[[], Awaitable[Any]]], Awaitable[Any]]


class _Access:
    def __init__(self, vyos: VyosClient, target: HealTarget, mutate: Mutate, log: Any) -> None:
        self._vyos = vyos
        self._target = target
        self._mutate = mutate
        self._log = log

    async def host_key(self) -> str:
        key: str = await self._vyos.fetch_host_key(self._target.endpoint())
        return key

    def trusting(self, key: str) -> RestoreAccess:
        return _Trusted(self._vyos, self._target.endpoint(key), self._mutate, self._log)


class _Trusted:
    """The relaunched router over SSH, its host key verified against its console. Every
    change (upload, merge, save, delete) passes the heal's gate on its own."""

    def __init__(
        self, vyos: VyosClient, endpoint: RouterEndpoint, mutate: Mutate, log: Any
    ) -> None:
        self._vyos, self._endpoint, self._mutate, self._log = vyos, endpoint, mutate, log

    async def run_op(self, command: str) -> str:
        text: str = await self._vyos.run_op(self._endpoint, command)
        return text

    async def run_config(self, commands: Sequence[str], *, save: bool) -> None:
        where = self._endpoint.name
        what = (
            f"run {len(commands)} config command(s) on {where}, commit"
            + (" and save" if save else " (not saved)")
            if commands
            else f"save the restored config on {where}"
        )
        await self._mutate(what, lambda: self._vyos.run_config(self._endpoint, commands, save=save))

    async def upload(self, path: str, data: bytes) -> None:
        await self._mutate(
            f"upload the backup to {path} on {self._endpoint.name}",
            lambda: self._vyos.upload(self._endpoint, path, data, mode=0o600),
        )

    async def remove(self, path: str) -> None:
        try:
            await self._mutate(
                f"delete {path} on {self._endpoint.name}",
                lambda: self._vyos.remove(self._endpoint, path),
            )
        except Exception as exc:  # the PSK-bearing file stays: say so loudly, never mask why
            self._log.error(
                "restore file not deleted", path=path, error=f"{type(exc).__name__}: {exc}"
            )


class _FencedProgress:
    """The workflow's progress sink: every save is a fenced write."""

    def __init__(self, store: StateStore, fence: Callable[[], Fence | None]) -> None:
        self._store = store
        self._fence = fence
        self._saved: dict[str, HealRecord] = {}

    def save(self, record: HealRecord) -> None:
        fence = self._fence()
        if fence is None:
            raise FenceLost(f"not the leader: progress of {record.heal_id} not saved")
        self._store.save_heal(record, fence=fence)
        self._saved[record.heal_id] = record

    def latest(self, record: HealRecord) -> HealRecord:
        """The record as last saved: a failed workflow keeps the steps it finished."""
        return self._saved.get(record.heal_id, record)


Verifier = Callable[[HealTarget, str], Awaitable[tuple[bool, str]]]
Replacer = Callable[[HealRecord, ReplaceContext], Awaitable[HealRecord]]


async def _replace(record: HealRecord, ctx: ReplaceContext) -> HealRecord:
    return await Replacement(record, ctx).run()


@dataclass
class HealTools:
    """What heals act with (built once by the composition root)."""

    ec2_for: Callable[[str], Ec2Actions]
    vyos: VyosClient
    backups: Backups
    verify: Verifier
    host_key: Callable[[str], str | None]  # the verified key of a relaunched router
    replacer: Replacer = _replace
    # (router, region, instance id) → its render input from AWS, to seed a twin's user data
    vpn_intent: VpnIntentSource | None = None


class HealExecutor:
    def __init__(
        self,
        *,
        store: StateStore,
        lease: Lease,
        tools: HealTools,
        config: Callable[[], Config],
        paused: Callable[[], bool],
        log: Any,
        on_result: Callable[[str, str, str], None],
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._store = store
        self._lease = lease
        self._tools = tools
        self._config = config
        self._paused = paused
        self._log = log
        self._on_result = on_result
        self._clock = clock
        self._sleep = sleep
        self._progress = _FencedProgress(store, lease.current)
        self._audit = AuditTrail(store, lease.current, clock)
        self._tasks: dict[str, asyncio.Task[HealRecord]] = {}
        # Heals this process finished (done or failed). A cycle that read the state before
        # one finished still sees it "running"; it must not be resumed from that stale copy.
        self._settled: set[str] = set()
        self.steps: dict[str, str] = {}

    def busy(self) -> dict[str, str]:
        return {r: self.steps.get(r, "starting") for r, t in self._tasks.items() if not t.done()}

    def settled(self) -> frozenset[str]:
        """Heal ids this process carried to an end (done or failed)."""
        return frozenset(self._settled)

    def start(
        self,
        action: Action,
        target: HealTarget,
        *,
        heal_id: str,
        now: float,
        dry_run: bool,
        request_id: str | None = None,
    ) -> HealRecord:
        if target.router in self.busy():
            raise RuntimeError(f"{target.router} is already being healed")
        record = HealRecord(
            heal_id=heal_id,
            router=target.router,
            action=action,
            strategy=self._config().heal.strategy if action is Action.REPLACE else "-",
            started_at=now,
            dry_run=dry_run,
            old_instance_id=target.instance_id,
            elastic_ip=target.elastic_ip,
            request_id=request_id,
        )
        self._progress.save(record)
        self._spawn(record, target)
        return record

    def resume(self, record: HealRecord, target: HealTarget) -> None:
        """Continue a replacement or stop-start past its point of no return (core/resume.py
        decided)."""
        target = replace(
            target,
            instance_id=record.old_instance_id,
            elastic_ip=record.elastic_ip or target.elastic_ip,
        )
        self._log.info(
            "resuming heal",
            heal_id=record.heal_id,
            router=record.router,
            steps_done=list(record.steps_done),
        )
        self._spawn(record, target)

    def abandon(self, record: HealRecord, why: str) -> None:
        self._progress.save(replace(record, status=HealStatus.ABANDONED, error=why))
        self._log.warning("heal abandoned", heal_id=record.heal_id, reason=why)

    def _spawn(self, record: HealRecord, target: HealTarget) -> None:
        task = asyncio.create_task(self._run(record, target), name=f"heal-{record.heal_id}")
        self._tasks[record.router] = task

    async def _run(self, record: HealRecord, target: HealTarget) -> HealRecord:
        router, action = record.router, str(record.action)
        self.steps[router] = record.steps_done[-1] if record.steps_done else "starting"
        try:
            record = await self._execute(record, target)
        except asyncio.CancelledError:
            raise  # shutting down: the record stays "running" and is resumed next start
        except HealPaused as exc:
            self._log.warning(
                "heal held by pause", heal_id=record.heal_id, router=router, detail=str(exc)
            )
            return record  # still "running": resumed once actions are unpaused
        except (NotLeader, FenceLost) as exc:  # another process leads: it resumes the heal
            self._log.error("heal stopped: not the leader", heal_id=record.heal_id, error=str(exc))
            return record
        except Exception as exc:
            latest = self._progress.latest(record)
            record = replace(latest, status=HealStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
            with contextlib.suppress(FenceLost):
                self._progress.save(record)
                self._settled.add(record.heal_id)  # only once "failed" is what the store says
            self._log.error(
                "heal failed", heal_id=record.heal_id, router=router, error=record.error
            )
            self._on_result(router, action, "failure")
            return record
        finally:
            self.steps.pop(router, None)
        self._settled.add(record.heal_id)
        self._on_result(router, action, "dry_run" if record.dry_run else "success")
        return record

    def _gate(self, record: HealRecord) -> MutationGate:
        return MutationGate(
            dry_run=record.dry_run,
            is_leader=lambda: self._lease.current() is not None,
            audit=self._audit,
            paused=self._paused,  # read at every mutation: a pause mid-heal holds the next step
            log=self._log,
        )

    def _context(
        self, gate: MutationGate, record: HealRecord, target: HealTarget
    ) -> ReplaceContext:
        config = self._config()
        tag = config.managed_tag

        def mutate(description: str, call: Callable[[], Awaitable[Any]]) -> Awaitable[Any]:
            return gate.mutate(
                heal_id=record.heal_id, router=record.router, action=record.action,
                step=self.steps.get(record.router, str(record.action)),
                description=description, call=call,
            )  # fmt: skip

        return ReplaceContext(
            ec2=self._tools.ec2_for(target.region),
            gate=gate,
            store=self._progress,
            access=_Access(self._tools.vyos, target, mutate, self._log),
            backups=self._tools.backups,
            verify=lambda new_id: self._tools.verify(replace(target, instance_id=new_id), new_id),
            sleep=self._sleep,
            on_step=lambda step: self.steps.__setitem__(record.router, step),
            managed_tag=(tag.key, tag.value),
            timeouts=config.heal.timeouts,
            log=self._log,
            public_key=self._tools.vyos.public_key_line()
            if record.action is Action.REPLACE
            else "",
            strip_sections=config.backup.strip_sections,
            ami_override=config.heal.ami.get(record.router),
            on_record=self._remember,
            vpn_seed=self._seed(target) if config.heal.seed_vpn_config else None,
            fence=self._fence_token,
        )

    def _seed(self, target: HealTarget) -> Callable[[], Awaitable[RouterIntent]] | None:
        source = self._tools.vpn_intent
        if source is None:
            return None
        return lambda: source(target.router, target.region, target.instance_id)

    async def _execute(self, record: HealRecord, target: HealTarget) -> HealRecord:
        gate = self._gate(record)
        if record.action is Action.REPLACE:
            return await self._tools.replacer(record, self._context(gate, record, target))
        if record.action is Action.STOP_START:
            return await StopStart(record, self._context(gate, record, target)).run()
        self.steps[record.router] = record.action
        await self._soft(gate, record, target)
        record = record.done(record.action, status=HealStatus.DONE)
        self._progress.save(record)
        return record

    def _fence_token(self) -> int:
        fence = self._lease.current()
        if fence is None:
            raise FenceLost("not the leader: no fencing token to launch with")
        return fence.token

    def _remember(self, record: HealRecord) -> None:
        """From launch on, the router *is* the new instance; trust its verified key."""
        if record.dry_run or record.new_instance_id is None:
            return
        fence = self._lease.current()
        if fence is None:
            raise FenceLost(f"not the leader: {record.router}'s new instance not recorded")
        self._store.record_instance(
            record.router, record.new_instance_id, record.host_key, fence=fence
        )

    async def _soft(self, gate: MutationGate, record: HealRecord, target: HealTarget) -> None:
        common = {
            "heal_id": record.heal_id,
            "router": record.router,
            "action": record.action,
            "step": record.action,
        }
        vyos = self._tools.vyos
        endpoint = target.endpoint(self._tools.host_key(target.router))
        if record.action is Action.RESET_BGP:
            for neighbor in target.neighbors or ("all",):
                await gate.mutate(
                    **common,
                    description=f"reset ip bgp {neighbor} on {record.router}",
                    call=lambda n=neighbor: vyos.run_op(endpoint, f"reset ip bgp {n}"),  # type: ignore[misc]
                )
        elif record.action is Action.RESTART_VPN:
            await gate.mutate(
                **common,
                description=f"restart vpn on {record.router}",
                call=lambda: vyos.run_op(endpoint, "restart vpn"),
            )
        elif record.action is Action.REBOOT:
            instance = target.instance_id
            if instance is None:
                raise ValueError(f"{record.router}: instance unknown, cannot reboot")
            ec2 = self._tools.ec2_for(target.region)
            await gate.mutate(
                **common,
                description=f"reboot {instance} ({record.router})",
                call=lambda: ec2.reboot(instance),
            )
        else:
            raise ValueError(f"unknown action {record.action!r}")

    async def wait_idle(self) -> None:
        await background.wait_idle(self._tasks)

    async def close(self) -> None:
        await background.cancel_all(self._tasks)
