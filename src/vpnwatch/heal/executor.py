"""Runs heals as tracked tasks while the loop keeps observing (Patroni's async executor).

Soft fixes are one call each; a replacement is the step workflow in `replace.py`. Every heal
has a persisted record; `resume` picks up records a previous process left running.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from vpnwatch.adapters.ec2_actions import Ec2Actions
from vpnwatch.adapters.vyos import RouterEndpoint, VyosClient
from vpnwatch.heal.gate import HealPaused, MutationGate
from vpnwatch.heal.progress import HealRecord, ProgressStore, make_heal_id
from vpnwatch.heal.replace import (
    BACKUP_PATH,
    Backups,
    ReplaceContext,
    Replacement,
    Timeouts,
    restore_commands,
)
from vpnwatch.statefiles import FleetState


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
        host = self.ssh_host or self.elastic_ip
        if host is None:
            raise ValueError(f"{self.router}: no SSH address known")
        keys = (trusted_key,) if trusted_key else ()
        return RouterEndpoint(self.router, host, self.ssh_port, trusted_host_keys=keys)


class _Access:
    def __init__(self, vyos: VyosClient, target: HealTarget) -> None:
        self._vyos = vyos
        self._target = target

    async def host_key(self) -> str:
        key: str = await self._vyos.fetch_host_key(self._target.endpoint())
        return key

    async def restore(self, text: str, trusted_key: str) -> None:
        endpoint = self._target.endpoint(trusted_key)
        await self._vyos.upload(endpoint, BACKUP_PATH, text.encode(), mode=0o600)
        running = await self._vyos.run_op(endpoint, "show configuration commands")
        await self._vyos.run_config(endpoint, restore_commands(running), save=True)


Verifier = Callable[[HealTarget, str], Awaitable[tuple[bool, str]]]


class HealExecutor:
    def __init__(
        self,
        *,
        gate: MutationGate,
        store: ProgressStore,
        fleet: FleetState,
        ec2_for: Callable[[str], Ec2Actions],
        vyos: VyosClient,
        backups: Backups,
        verify: Verifier,
        strategy: str,
        timeouts: Timeouts,
        managed_tag: tuple[str, str],
        log: Any,
        on_result: Callable[[str, str, str], None],
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._gate = gate
        self._store = store
        self._fleet = fleet
        self._ec2_for = ec2_for
        self._vyos = vyos
        self._backups = backups
        self._verify = verify
        self._strategy = strategy
        self._timeouts = timeouts
        self._managed_tag = managed_tag
        self._log = log
        self._on_result = on_result
        self._clock = clock
        self._sleep = sleep
        self._tasks: dict[str, asyncio.Task[HealRecord]] = {}
        self.steps: dict[str, str] = {}
        self.abandoned: list[str] = []  # routers whose unfinished heal resume gave up

    def busy(self) -> dict[str, str]:
        return {r: self.steps.get(r, "starting") for r, t in self._tasks.items() if not t.done()}

    def start(self, action: str, target: HealTarget) -> str:
        if target.router in self.busy():
            raise RuntimeError(f"{target.router} is already being healed")
        now = self._clock()
        record = HealRecord(
            heal_id=make_heal_id(target.router, action, now),
            router=target.router,
            action=action,
            strategy=self._strategy if action == "replace" else "-",
            started_at=now,
            dry_run=self._gate.dry_run,
            old_instance_id=target.instance_id,
            elastic_ip=target.elastic_ip,
        )
        self._store.save(record)
        self._spawn(record, target)
        return record.heal_id

    def resume(self, targets: Mapping[str, HealTarget]) -> list[str]:
        """Continue heals an earlier process (or a pause) left unfinished.

        Only a replacement past its point of no return (the old instance terminated) is
        continued, and only in the mode it started in. Anything earlier is abandoned: the
        old instance is still there, so the policy decides afresh with today's guards.
        """
        resumed = []
        for record in self._store.unfinished():
            target = targets.get(record.router)
            if target is None or record.router in self.busy():
                continue
            why_not = self._resume_refusal(record)
            if why_not is not None:
                if record.dry_run or "terminate" not in record.steps_done:
                    self._store.save(replace(record, status="abandoned", error=why_not))
                    self._log.warning("heal abandoned", heal_id=record.heal_id, reason=why_not)
                    self.abandoned.append(record.router)
                else:  # live and past terminate: keep it for when it can run again
                    self._log.error("live heal unfinished", heal_id=record.heal_id, reason=why_not)
                continue
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
            resumed.append(record.heal_id)
        return resumed

    def _resume_refusal(self, record: HealRecord) -> str | None:
        if record.dry_run != self._gate.dry_run:
            mode = "dry-run" if record.dry_run else "live"
            return f"started {mode}, the daemon is not {mode} now"
        if record.action != "replace":
            return "a soft action is not resumed; the policy decides again"
        if "terminate" not in record.steps_done:
            return "stopped before terminating the old instance; the policy decides again"
        if self._gate.paused:
            return "actions are paused"
        return None

    def _spawn(self, record: HealRecord, target: HealTarget) -> None:
        task = asyncio.create_task(self._run(record, target), name=f"heal-{record.heal_id}")
        self._tasks[record.router] = task

    async def _run(self, record: HealRecord, target: HealTarget) -> HealRecord:
        router, action = record.router, record.action
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
        except Exception as exc:
            record = replace(record, status="failed", error=f"{type(exc).__name__}: {exc}")
            self._store.save(record)
            self._log.error(
                "heal failed", heal_id=record.heal_id, router=router, error=record.error
            )
            self._on_result(router, action, "failure")
            return record
        finally:
            self.steps.pop(router, None)
        self._on_result(router, action, "dry_run" if record.dry_run else "success")
        return record

    async def _execute(self, record: HealRecord, target: HealTarget) -> HealRecord:
        if record.action == "replace":
            ctx = ReplaceContext(
                ec2=self._ec2_for(target.region),
                gate=self._gate,
                store=self._store,
                access=_Access(self._vyos, target),
                backups=self._backups,
                verify=lambda new_id: self._verify(replace(target, instance_id=new_id), new_id),
                sleep=self._sleep,
                on_step=lambda step: self.steps.__setitem__(record.router, step),
                managed_tag=self._managed_tag,
                timeouts=self._timeouts,
                log=self._log,
                on_record=self._remember,
            )
            return await Replacement(record, ctx).run()
        self.steps[record.router] = record.action
        await self._soft(record, target)
        record = record.done(record.action, status="done")
        self._store.save(record)
        return record

    def _remember(self, record: HealRecord) -> None:
        """From launch on, the router *is* the new instance; trust its verified key."""
        if record.dry_run or record.new_instance_id is None:
            return
        if self._fleet.instances.get(record.router) != record.new_instance_id or (
            record.host_key and self._fleet.host_keys.get(record.router) != record.host_key
        ):
            self._fleet.replaced(record.router, record.new_instance_id, record.host_key)

    async def _soft(self, record: HealRecord, target: HealTarget) -> None:
        common = {
            "heal_id": record.heal_id,
            "router": record.router,
            "action": record.action,
            "step": record.action,
        }
        trusted = self._fleet.host_keys.get(target.router)
        if record.action == "reset-bgp":
            for neighbor in target.neighbors or ("all",):
                await self._gate.mutate(
                    **common,
                    description=f"reset ip bgp {neighbor} on {record.router}",
                    call=lambda n=neighbor: self._vyos.run_op(  # type: ignore[misc]
                        target.endpoint(trusted), f"reset ip bgp {n}"
                    ),
                )
        elif record.action == "restart-vpn":
            await self._gate.mutate(
                **common,
                description=f"restart vpn on {record.router}",
                call=lambda: self._vyos.run_op(target.endpoint(trusted), "restart vpn"),
            )
        elif record.action == "reboot":
            instance = target.instance_id
            if instance is None:
                raise ValueError(f"{record.router}: instance unknown, cannot reboot")
            ec2 = self._ec2_for(target.region)
            await self._gate.mutate(
                **common,
                description=f"reboot {instance} ({record.router})",
                call=lambda: ec2.reboot(instance),
            )
        else:
            raise ValueError(f"unknown action {record.action!r}")

    async def wait_idle(self) -> None:
        tasks = [t for t in self._tasks.values() if not t.done()]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def close(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        for task in self._tasks.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
