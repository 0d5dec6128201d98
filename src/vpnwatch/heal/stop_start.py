"""The `stop-start` heal: new hardware, same instance (ladder: reboot → stop-start → replace).

A stop and start moves an EBS-backed instance to another host and keeps its id, network
interfaces, private IPs, Elastic IPs and EBS root volume (the config and the SSH host key):
EC2 User Guide, "Stop and start Amazon EC2 instances". It cures what a reboot cannot (a
failed host, an instance status check that stays impaired) without a restore.

check → stop → wait-stopped → start → wait-running → verify. Like the replacement, every
step checks whether it is done, acts through the mutation gate, is persisted, and retries
temporary errors (e.g. InsufficientInstanceCapacity on start) within its own deadline. The
check runs for real in dry-run (reads and DryRun calls).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from vpnwatch.core.records import HealRecord
from vpnwatch.core.resume import POINT_OF_NO_RETURN
from vpnwatch.heal.context import ReplaceContext
from vpnwatch.heal.steps import HealFailed, NotYet, until_ready, within
from vpnwatch.vocabulary import Action

STOP_START_STEPS = ("check", "stop", "wait-stopped", "start", "wait-running", "verify")


class StopStart:
    def __init__(self, record: HealRecord, ctx: ReplaceContext) -> None:
        self.record = record
        self.ctx = ctx

    @property
    def instance(self) -> str:
        assert self.record.old_instance_id is not None
        return self.record.old_instance_id

    def _save(self, record: HealRecord) -> None:
        self.record = record
        self.ctx.store.save(record)
        self.ctx.on_record(record)

    async def run(self) -> HealRecord:
        for step in STOP_START_STEPS:
            if step in self.record.steps_done:
                continue
            self.ctx.on_step(step)
            self.ctx.log.info(
                "heal step", heal_id=self.record.heal_id, router=self.record.router, step=step
            )
            if step == POINT_OF_NO_RETURN[Action.STOP_START] and not self.ctx.gate.dry_run:
                # Written ahead: a stop in flight when this process dies may have reached
                # AWS, so the next leader resumes (and starts the instance) rather than
                # abandons a stopped router.
                self._save(replace(self.record, extra={**self.record.extra, "started": step}))
            if self.ctx.gate.dry_run and step != "check":
                await self._mutate(step, f"{step} {self.instance} ({self.record.router})", _nothing)
                changes: dict[str, Any] = {}
            else:
                changes = await within(
                    step, self._limit(step), getattr(self, "_" + step.replace("-", "_")),
                    monotonic=self.ctx.monotonic, sleep=self.ctx.sleep,
                    interval=self.ctx.timeouts.poll,
                    on_retry=lambda exc, s=step: self.ctx.log.warning(  # type: ignore[misc]
                        "heal step retrying", heal_id=self.record.heal_id, step=s, error=str(exc)
                    ),
                ) or {}  # fmt: skip
            self._save(self.record.done(step, **changes))
        self._save(self.record.done("finished", status="done"))
        return self.record

    def _limit(self, step: str) -> float:
        t = self.ctx.timeouts
        return {"wait-stopped": t.terminate, "start": t.launch, "wait-running": t.running,
                "verify": t.verify}.get(step, t.api)  # fmt: skip

    async def _mutate(self, step: str, description: str, call: Callable[[], Awaitable[Any]]) -> Any:
        return await self.ctx.gate.mutate(
            heal_id=self.record.heal_id, router=self.record.router, action=Action.STOP_START,
            step=step, description=description, call=call,
        )  # fmt: skip

    async def _state(self) -> str:
        item = await self.ctx.ec2.instance(self.instance)
        if item is None:
            raise HealFailed(f"instance {self.instance} is gone")
        return str(item["State"]["Name"])

    async def _wait_for(self, wanted: str, limit: float) -> None:
        async def reached() -> bool:
            state = await self._state()
            if state in ("shutting-down", "terminated"):
                raise HealFailed(f"{self.instance} is {state}")
            return state == wanted

        await until_ready(
            f"{self.instance} to be {wanted}", limit, reached, monotonic=self.ctx.monotonic,
            sleep=self.ctx.sleep, interval=self.ctx.timeouts.poll,
        )  # fmt: skip

    # ------------------------------------------------------------ steps

    async def _check(self) -> dict[str, Any]:
        item = await self.ctx.ec2.instance(self.instance)
        if item is None:
            raise HealFailed(f"instance {self.instance} not found")
        key, value = self.ctx.managed_tag
        tags = {t["Key"]: t["Value"] for t in item.get("Tags", [])}
        if tags.get(key) != value:
            raise HealFailed(f"{self.instance} lacks the managed tag {key}={value}")
        if item.get("RootDeviceType", "ebs") != "ebs":
            raise HealFailed(f"{self.instance} has an instance-store root: a stop would lose it")
        problems = []
        for name, (allowed, why) in (
            ("StopInstances", await self.ctx.ec2.dry_stop(self.instance)),
            ("StartInstances", await self.ctx.ec2.dry_start(self.instance)),
        ):
            if not allowed:
                problems.append(f"dry-run {name}: {why}")
        if problems:
            raise HealFailed("preflight failed, nothing done: " + "; ".join(problems))
        address = await self.ctx.ec2.address_of_instance(self.instance)
        if address is None:
            return {}
        return {"elastic_ip": address.public_ip, "allocation_id": address.allocation_id}

    async def _stop(self) -> None:
        if await self._state() in ("stopping", "stopped"):
            return
        await self._mutate(
            "stop", f"stop {self.instance} ({self.record.router})",
            lambda: self.ctx.ec2.stop(self.instance),
        )  # fmt: skip

    async def _wait_stopped(self) -> None:
        await self._wait_for("stopped", self.ctx.timeouts.terminate)

    async def _start(self) -> None:
        if await self._state() in ("pending", "running"):
            return
        await self._mutate(
            "start", f"start {self.instance} on new hardware ({self.record.router})",
            lambda: self.ctx.ec2.start(self.instance),
        )  # fmt: skip

    async def _wait_running(self) -> None:
        await self._wait_for("running", self.ctx.timeouts.running)

    async def _verify(self) -> None:
        eip = self.record.elastic_ip
        if eip is not None:
            address = await self.ctx.ec2.address(eip)
            if address is None or address.instance_id != self.instance:
                holder = address.instance_id if address else "nothing"
                raise HealFailed(f"Elastic IP {eip} is on {holder} after the start, not on it")

        async def healthy() -> bool:
            ok, why = await self.ctx.verify(self.instance)
            if not ok:
                raise NotYet(why)
            return ok

        await until_ready(
            "BGP Established and AWS tunnels UP", self.ctx.timeouts.verify, healthy,
            monotonic=self.ctx.monotonic, sleep=self.ctx.sleep, interval=self.ctx.timeouts.poll,
        )  # fmt: skip


async def _nothing() -> None:
    return None
