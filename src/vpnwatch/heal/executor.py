"""Runs heals as tracked tasks while the loop keeps observing (Patroni's async executor).

Soft fixes are one call each; a replacement is the step workflow in `replace.py`, a
stop-start the one in `stop_start.py`. Every heal has a persisted record; `resume` picks up
records a previous process left running.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from vpnwatch.adapters.ec2_actions import Ec2Actions
from vpnwatch.adapters.vyos import RouterEndpoint, VyosClient
from vpnwatch.errors import VpnwatchError
from vpnwatch.heal.gate import HealPaused, MutationGate
from vpnwatch.heal.progress import HealRecord, ProgressStore, make_heal_id
from vpnwatch.heal.replace import Backups, ReplaceContext, Replacement, Timeouts
from vpnwatch.heal.restore import RestoreAccess
from vpnwatch.heal.stop_start import POINT_OF_NO_RETURN, StopStart
from vpnwatch.statefiles import FleetState

# The step after which a heal has changed the router and must be finished, not abandoned.
PAST_NO_RETURN = {"replace": "terminate", "stop-start": POINT_OF_NO_RETURN}


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
    def __init__(self, vyos: VyosClient, target: HealTarget, log: Any) -> None:
        self._vyos = vyos
        self._target = target
        self._log = log

    async def host_key(self) -> str:
        key: str = await self._vyos.fetch_host_key(self._target.endpoint())
        return key

    def trusting(self, key: str) -> RestoreAccess:
        return _Trusted(self._vyos, self._target.endpoint(key), self._log)


class _Trusted:
    """The relaunched router over SSH, its host key verified against its console."""

    def __init__(self, vyos: VyosClient, endpoint: RouterEndpoint, log: Any) -> None:
        self._vyos, self._endpoint, self._log = vyos, endpoint, log

    async def run_op(self, command: str) -> str:
        text: str = await self._vyos.run_op(self._endpoint, command)
        return text

    async def run_config(self, commands: Sequence[str], *, save: bool) -> None:
        await self._vyos.run_config(self._endpoint, commands, save=save)

    async def upload(self, path: str, data: bytes) -> None:
        await self._vyos.upload(self._endpoint, path, data, mode=0o600)

    async def remove(self, path: str) -> None:
        try:
            await self._vyos.remove(self._endpoint, path)
        except VpnwatchError as exc:  # the PSK-bearing file stays: say so loudly
            self._log.error("restore file not deleted", path=path, error=str(exc))


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
        strip_sections: Sequence[str] = ("interfaces ethernet eth0", "service", "system"),
        ami_overrides: Mapping[str, str] | None = None,
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
        self._strip_sections = tuple(strip_sections)
        self._ami_overrides = dict(ami_overrides or {})
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

        Only a replacement or stop-start past its point of no return (the old instance
        terminated, the instance stopped) is continued, and only in the mode it started in.
        Anything earlier is abandoned: the router is untouched, so the policy decides afresh
        with today's guards.
        """
        resumed = []
        for record in self._store.unfinished():
            target = targets.get(record.router)
            if target is None or record.router in self.busy():
                continue
            why_not = self._resume_refusal(record)
            if why_not is not None:
                if record.dry_run or not _past_no_return(record):
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
        if record.action not in PAST_NO_RETURN:
            return "a soft action is not resumed; the policy decides again"
        if not _past_no_return(record):
            return "stopped before its point of no return; the policy decides again"
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
            # the workflow saved every step it finished: keep them in the failed record
            latest = self._store.load(record.heal_id) or record
            record = replace(latest, status="failed", error=f"{type(exc).__name__}: {exc}")
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

    def _context(self, record: HealRecord, target: HealTarget) -> ReplaceContext:
        return ReplaceContext(
            ec2=self._ec2_for(target.region),
            gate=self._gate,
            store=self._store,
            access=_Access(self._vyos, target, self._log),
            backups=self._backups,
            verify=lambda new_id: self._verify(replace(target, instance_id=new_id), new_id),
            sleep=self._sleep,
            on_step=lambda step: self.steps.__setitem__(record.router, step),
            managed_tag=self._managed_tag,
            timeouts=self._timeouts,
            log=self._log,
            public_key=self._vyos.public_key_line() if record.action == "replace" else "",
            strip_sections=self._strip_sections,
            ami_override=self._ami_overrides.get(record.router),
            on_record=self._remember,
        )

    async def _execute(self, record: HealRecord, target: HealTarget) -> HealRecord:
        if record.action == "replace":
            return await Replacement(record, self._context(record, target)).run()
        if record.action == "stop-start":
            return await StopStart(record, self._context(record, target)).run()
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


def _past_no_return(record: HealRecord) -> bool:
    step = PAST_NO_RETURN.get(record.action)
    return step is not None and step in record.steps_done
