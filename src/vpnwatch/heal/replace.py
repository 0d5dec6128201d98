"""Crash-safe instance replacement (DESIGN §5): `same-ip` (the article's runbook) or `eni`.

capture → preflight → [point of no return] terminate → launch → wait for running → configure
→ EIP → SSH → verified host key → restore → verify. Each step first checks whether it is
already done (so a restarted daemon resumes without a second instance or a lost EIP), then
acts through the mutation gate, then the progress is persisted. Each step retries temporary
errors (and, for the new instance, EC2's settling errors) within its own deadline; a step
that cannot finish raises and the heal is marked failed and alerted. In dry-run, capture and
preflight run for real (reads and DryRun calls) and the mutating steps say "would have".
"""

from __future__ import annotations

import base64
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from vpnwatch.adapters.aws import AwsApiError
from vpnwatch.adapters.ec2_actions import HEAL_TAG, Ec2Actions, LaunchSpec
from vpnwatch.adapters.vyos_errors import SshAuthFailed
from vpnwatch.heal.gate import MutationGate
from vpnwatch.heal.hostkey import key_is_printed, printed_fingerprints
from vpnwatch.heal.preflight import LaunchPlan, PreflightInput, run_preflight
from vpnwatch.heal.progress import HealRecord, ProgressStore
from vpnwatch.heal.restore import RestoreAccess, RestoreMismatch, restore
from vpnwatch.heal.steps import HealFailed, NotYet, settling, until_ready, within

__all__ = ["ENI_STEPS", "SAME_IP_STEPS", "HealFailed", "ReplaceContext", "Replacement", "Timeouts"]

SAME_IP_STEPS = (
    "capture", "preflight", "tag-old", "terminate", "wait-terminated", "launch",
    "wait-running", "configure", "repoint-routes", "associate-eip", "wait-ssh",
    "verify-host-key", "restore", "verify",
)  # fmt: skip
# The eni strategy first makes the primary interface outlive the instance.
ENI_STEPS = (*SAME_IP_STEPS[:3], "keep-eni", *SAME_IP_STEPS[3:])
# Steps that only read or DryRun: they run for real in dry-run too.
READ_ONLY_STEPS = ("capture", "preflight")
MAX_LAUNCH_ATTEMPTS = 3


class TwinDied(Exception):
    """The launched twin reached `terminated` (its StateReason says why)."""


class RouterAccess(Protocol):
    """How the workflow reaches the relaunched router (adapter + where it lives)."""

    async def host_key(self) -> str: ...

    def trusting(self, key: str) -> RestoreAccess: ...


class Backups(Protocol):
    def latest_valid_backup(self, router: str) -> tuple[str, str] | None: ...


@dataclass(frozen=True)
class Timeouts:
    terminate: float = 600.0
    launch: float = 300.0  # includes waiting for the private IP to be released
    ssh: float = 600.0
    console: float = 600.0
    verify: float = 300.0
    poll: float = 2.0
    running: float = 300.0  # pending → running
    api: float = 120.0  # a step that is a few API calls
    restore: float = 300.0


@dataclass
class ReplaceContext:
    ec2: Ec2Actions
    gate: MutationGate
    store: ProgressStore
    access: RouterAccess
    backups: Backups
    verify: Callable[[str], Awaitable[tuple[bool, str]]]  # new instance id → (ok, why)
    sleep: Callable[[float], Awaitable[None]]
    on_step: Callable[[str], None]
    managed_tag: tuple[str, str]
    timeouts: Timeouts
    log: Any
    public_key: str = ""  # the daemon's (OpenSSH line), given to the new router by user data
    strip_sections: Sequence[str] = ("interfaces ethernet eth0", "service", "system")
    ami_override: str | None = None
    on_record: Callable[[HealRecord], None] = lambda record: None
    monotonic: Callable[[], float] = time.monotonic


class Replacement:
    def __init__(self, record: HealRecord, ctx: ReplaceContext) -> None:
        self.record = record
        self.ctx = ctx
        self.ctx_step = ""  # the step running now (for retry log lines)

    @property
    def steps(self) -> tuple[str, ...]:
        return ENI_STEPS if self.record.strategy == "eni" else SAME_IP_STEPS

    def _spec(self) -> LaunchSpec:
        assert self.record.launch_spec is not None
        return LaunchSpec.from_json(self.record.launch_spec)

    def _plan(self) -> LaunchPlan:
        return LaunchPlan.from_json(self.record.extra["launch"])

    def _save(self, record: HealRecord) -> None:
        self.record = record
        self.ctx.store.save(record)
        self.ctx.on_record(record)

    async def run(self) -> HealRecord:
        while True:
            step = next((s for s in self.steps if s not in self.record.steps_done), None)
            if step is None:
                break
            self.ctx.on_step(step)
            self.ctx.log.info(
                "heal step", heal_id=self.record.heal_id, router=self.record.router, step=step
            )
            if self.ctx.gate.dry_run and step not in READ_ONLY_STEPS:
                await self._would_have(step)
                self._save(self.record.done(step))
                continue
            try:
                changes = await self._run_step(step)
            except TwinDied as exc:
                self._relaunch(str(exc))
                continue
            self._save(self.record.done(step, **changes))
        self._save(self.record.done("finished", status="done"))
        return self.record

    def _relaunch(self, reason: str) -> None:
        """The twin died: forget it and launch again with a new, persisted ClientToken."""
        attempt = self.record.launch_attempt + 1
        dead = [*self.record.extra.get("dead_twins", []), reason]
        self.ctx.log.error(
            "launched twin died", heal_id=self.record.heal_id, router=self.record.router,
            reason=reason, attempt=attempt,
        )  # fmt: skip
        if attempt >= MAX_LAUNCH_ATTEMPTS:
            raise HealFailed(f"{attempt} launched twins died: {'; '.join(dead)}")
        steps = tuple(s for s in self.record.steps_done if s not in ("launch", "wait-running"))
        self._save(
            replace(
                self.record, steps_done=steps, new_instance_id=None, launch_attempt=attempt,
                extra={**self.record.extra, "dead_twins": dead},
            )
        )  # fmt: skip

    async def _run_step(self, step: str) -> dict[str, Any]:
        action = getattr(self, "_" + step.replace("-", "_"))
        self.ctx_step = step
        limits = {
            "terminate": self.ctx.timeouts.api, "wait-terminated": self.ctx.timeouts.terminate,
            "launch": self.ctx.timeouts.launch, "wait-running": self.ctx.timeouts.running,
            "wait-ssh": self.ctx.timeouts.ssh, "verify-host-key": self.ctx.timeouts.console,
            "restore": self.ctx.timeouts.restore, "verify": self.ctx.timeouts.verify,
        }  # fmt: skip
        new_instance_steps = ("wait-running", "configure", "repoint-routes", "associate-eip")
        changes: dict[str, Any] = (
            await within(
                step,
                limits.get(step, self.ctx.timeouts.api),
                action,
                monotonic=self.ctx.monotonic,
                sleep=self.ctx.sleep,
                interval=self.ctx.timeouts.poll,
                also_retry=settling if step in new_instance_steps else lambda exc: False,
                on_retry=lambda exc: self.ctx.log.warning(
                    "heal step retrying", heal_id=self.record.heal_id, step=step, error=str(exc)
                ),
            )
            or {}
        )
        return changes

    async def _would_have(self, step: str) -> None:
        await self.ctx.gate.mutate(
            heal_id=self.record.heal_id,
            router=self.record.router,
            action="replace",
            step=step,
            description=f"{step} for {self.record.router} "
            f"({self.record.strategy}, old instance {self.record.old_instance_id})",
            call=_nothing,
        )

    async def _mutate(self, step: str, description: str, call: Callable[[], Awaitable[Any]]) -> Any:
        return await self.ctx.gate.mutate(
            heal_id=self.record.heal_id,
            router=self.record.router,
            action="replace",
            step=step,
            description=description,
            call=call,
        )

    def _retrying(self, step: str) -> Callable[[BaseException], None]:
        def log(exc: BaseException) -> None:
            if not isinstance(exc, NotYet):  # waiting is normal; errors are worth a line
                self.ctx.log.warning(
                    "heal step retrying", heal_id=self.record.heal_id, step=step, error=str(exc)
                )

        return log

    async def _poll(self, what: str, limit: float, probe: Callable[[], Awaitable[Any]]) -> Any:
        return await until_ready(
            what, limit, probe, monotonic=self.ctx.monotonic, sleep=self.ctx.sleep,
            interval=self.ctx.timeouts.poll, also_retry=settling,
            on_retry=self._retrying(self.ctx_step),
        )  # fmt: skip

    # ------------------------------------------------------------ before the point of no return

    async def _capture(self) -> dict[str, Any]:
        old = self.record.old_instance_id
        assert old is not None
        spec = await self.ctx.ec2.capture_launch_spec(old)
        key, value = self.ctx.managed_tag
        if spec.tags.get(key) != value:
            raise HealFailed(f"instance {old} lacks the managed tag {key}={value}: not touching it")
        if self.ctx.backups.latest_valid_backup(self.record.router) is None:
            raise HealFailed(f"no valid backup for {self.record.router}: not replacing it")
        # The EIP is the router's identity (its customer gateway): from AWS, not only from
        # the observation that triggered the heal.
        address = (
            await self.ctx.ec2.address(self.record.elastic_ip)
            if self.record.elastic_ip
            else await self.ctx.ec2.address_of_instance(old)
        )
        if address is None:
            raise HealFailed(f"no Elastic IP found for {old} (moved by hand?): not replacing it")
        return {
            "launch_spec": spec.to_json(),
            "allocation_id": address.allocation_id,
            "elastic_ip": address.public_ip,
        }

    async def _preflight(self) -> dict[str, Any]:
        backup = self.ctx.backups.latest_valid_backup(self.record.router)
        result = await run_preflight(
            self.ctx.ec2,
            PreflightInput(
                router=self.record.router, heal_id=self.record.heal_id,
                strategy=self.record.strategy, spec=self._spec(),
                elastic_ip=self.record.elastic_ip, allocation_id=self.record.allocation_id,
                backup_text=backup[0] if backup else None, ami_override=self.ctx.ami_override,
                public_key=self.ctx.public_key, managed_tag=self.ctx.managed_tag,
            ),
        )  # fmt: skip
        for check in result.checks:
            self.ctx.log.info(
                "preflight check", heal_id=self.record.heal_id, check=check.name, ok=check.ok,
                detail=check.detail,
            )  # fmt: skip
        if not result.ok or result.plan is None:
            raise HealFailed(f"preflight failed, nothing done: {result.failures()}")
        return {"extra": {**self.record.extra, "launch": result.plan.to_json()}}

    async def _tag_old(self) -> None:
        old = self.record.old_instance_id
        assert old is not None
        await self._mutate(
            "tag-old",
            f"tag {old} with {HEAL_TAG}={self.record.heal_id}",
            lambda: self.ctx.ec2.tag(old, {HEAL_TAG: self.record.heal_id}),
        )

    async def _keep_eni(self) -> None:
        spec = self._spec()
        if await self.ctx.ec2.eni_delete_on_termination(spec.eni_id) is False:
            return
        if spec.eni_attachment_id is None:
            raise HealFailed(f"ENI {spec.eni_id} is not attached: cannot keep it")
        attachment = spec.eni_attachment_id
        await self._mutate(
            "keep-eni",
            f"keep ENI {spec.eni_id} on termination",
            lambda: self.ctx.ec2.keep_eni_on_termination(spec.eni_id, attachment),
        )

    # ------------------------------------------------------------ the point of no return

    async def _terminate(self) -> None:
        old = self.record.old_instance_id
        assert old is not None
        item = await self.ctx.ec2.instance(old)
        if item is None or item["State"]["Name"] in ("shutting-down", "terminated"):
            return
        if await self.ctx.ec2.termination_protected(old):
            await self._mutate(
                "terminate",
                f"lift termination protection of {old}",
                lambda: self.ctx.ec2.set_termination_protection(old, False),
            )
        await self._mutate("terminate", f"terminate {old}", lambda: self.ctx.ec2.terminate(old))

    async def _wait_terminated(self) -> None:
        old = self.record.old_instance_id
        assert old is not None

        async def gone() -> bool:
            item = await self.ctx.ec2.instance(old)
            if item is not None and item["State"]["Name"] != "terminated":
                return False
            if self.record.strategy == "eni":
                return await self.ctx.ec2.eni_status(self._spec().eni_id) == "available"
            return True

        await self._poll(f"{old} to terminate", self.ctx.timeouts.terminate, gone)

    async def _launch(self) -> dict[str, Any]:
        for item in await self.ctx.ec2.instances_tagged(HEAL_TAG, self.record.heal_id):
            if item["InstanceId"] != self.record.old_instance_id and item["State"]["Name"] in (
                "pending",
                "running",
            ):
                return {"new_instance_id": item["InstanceId"]}  # launched before a restart
        spec, plan = self._spec(), self._plan()

        async def launch() -> str | None:
            try:
                new_id: str | None = await self._mutate(
                    "launch",
                    f"launch a twin of {self.record.old_instance_id} on {spec.private_ip} "
                    f"(attempt {self.record.launch_attempt + 1})",
                    lambda: self.ctx.ec2.run_twin(
                        spec,
                        client_token=self.record.client_token,
                        heal_id=self.record.heal_id,
                        keep_eni=self.record.strategy == "eni",
                        image_id=plan.image_id,
                        root_device_name=plan.root_device_name,
                        user_data=base64.b64decode(plan.user_data_b64),
                    ),
                )
                return new_id
            except AwsApiError as exc:
                if exc.code == "InvalidIPAddress.InUse":  # the old interface is not released yet
                    self.ctx.log.info("private IP still in use; waiting", router=self.record.router)
                    return None
                raise

        new_id = await self._poll(f"{spec.private_ip} to be free", self.ctx.timeouts.launch, launch)
        return {"new_instance_id": new_id}

    async def _wait_running(self) -> None:
        new = self.record.new_instance_id
        assert new is not None

        async def running() -> bool:
            item = await self.ctx.ec2.instance_by_id(new)  # NotFound while it settles: retried
            state = item["State"]["Name"]
            if state in ("shutting-down", "terminated"):
                reason = item.get("StateReason", {})
                raise TwinDied(
                    f"{new} {state}: {reason.get('Code', '?')}: {reason.get('Message', '')}"
                )
            return bool(state == "running")

        await self._poll(f"{new} to be running", self.ctx.timeouts.running, running)

    async def _configure(self) -> None:
        new = self.record.new_instance_id
        assert new is not None
        if await self.ctx.ec2.source_dest_check(new):
            await self._mutate(
                "configure",
                f"disable source/dest check on {new}",
                lambda: self.ctx.ec2.disable_source_dest_check(new),
            )
        if self._spec().disable_api_termination and not await self.ctx.ec2.termination_protected(
            new
        ):
            await self._mutate(
                "configure",
                f"enable termination protection on {new}",
                lambda: self.ctx.ec2.set_termination_protection(new, True),
            )

    async def _repoint_routes(self) -> None:
        """Routes that sent traffic to the old instance's interface go to the new one."""
        spec, new = self._spec(), self.record.new_instance_id
        if self.record.strategy == "eni" or not spec.routes:
            return  # the kept interface is still their target
        assert new is not None
        eni = await self.ctx.ec2.primary_eni_of(new)
        if eni is None:
            raise HealFailed(f"{new} has no primary interface to point routes at")
        for route in spec.routes:
            await self._mutate(
                "repoint-routes",
                f"point {route.destination} in {route.route_table_id} at {eni}",
                lambda r=route: self.ctx.ec2.replace_route(r, eni),  # type: ignore[misc]
            )

    async def _associate_eip(self) -> None:
        new = self.record.new_instance_id
        eip, allocation = self.record.elastic_ip, self.record.allocation_id
        assert new is not None
        if eip is None or allocation is None:
            return
        spec = self._spec()
        address = await self.ctx.ec2.address(eip)
        if address is None:
            raise HealFailed(f"Elastic IP {eip} is no longer allocated: alerting, not moving it")
        if address.instance_id == new or (
            self.record.strategy == "eni" and address.eni_id == spec.eni_id
        ):
            return  # already there (the kept ENI carries its EIP with it)
        if address.instance_id not in (None, spec.instance_id) or (
            address.eni_id not in (None, spec.eni_id)
        ):
            holder = address.instance_id or address.eni_id
            raise HealFailed(
                f"Elastic IP {eip} is now on {holder}, not on the old instance or nowhere: "
                "not moving it (an operator may have moved it)"
            )
        await self._mutate(
            "associate-eip",
            f"associate EIP {eip} with {new}",
            lambda: self.ctx.ec2.associate_eip(allocation, new),
        )

    # ------------------------------------------------------------ the new router

    async def _wait_ssh(self) -> None:
        await self._poll("SSH on the new instance", self.ctx.timeouts.ssh, self.ctx.access.host_key)

    async def _verify_host_key(self) -> dict[str, Any]:
        new = self.record.new_instance_id
        assert new is not None
        latest = [self._plan().nitro]

        async def printed() -> frozenset[str] | None:
            try:
                text = await self.ctx.ec2.console_output(new, latest=latest[0])
            except AwsApiError as exc:
                if not latest[0]:
                    raise
                self.ctx.log.info(
                    "console Latest refused; reading the buffered post", error=str(exc)
                )
                latest[0] = False
                return None
            return printed_fingerprints(text)

        fingerprints = await self._poll(
            f"host key fingerprints in {new}'s console output", self.ctx.timeouts.console, printed
        )
        live = await self.ctx.access.host_key()
        if not key_is_printed(live, fingerprints):
            raise HealFailed(
                f"host key of {new} does not match the fingerprints its boot script printed on "
                "its console: refusing to restore (a man in the middle?)"
            )
        return {"host_key": live}

    async def _restore(self) -> dict[str, Any]:
        backup = self.ctx.backups.latest_valid_backup(self.record.router)
        if backup is None:
            raise HealFailed(f"no valid backup for {self.record.router}")
        text, version = backup
        key = self.record.host_key
        assert key is not None
        access = self.ctx.access.trusting(key)

        async def run() -> str:
            try:
                return await restore(access, text, self.ctx.strip_sections)
            except SshAuthFailed as exc:
                raise HealFailed(
                    f"the new router refused vpnwatch's key ({exc}): was the user data's "
                    "ssh_authorized_keys applied?"
                ) from None
            except RestoreMismatch as exc:
                raise HealFailed(f"restore not saved: {exc}") from None

        release = await self._mutate(
            "restore", f"restore backup {version} onto {self.record.new_instance_id}", run
        )
        return {"backup_version": version, "extra": {**self.record.extra, "release": release}}

    async def _verify(self) -> None:
        new = self.record.new_instance_id
        assert new is not None

        async def healthy() -> bool:
            ok, why = await self.ctx.verify(new)
            if not ok:
                self.ctx.log.info("verifying replacement", router=self.record.router, detail=why)
                raise NotYet(why)
            return ok

        await self._poll("BGP Established and AWS tunnels UP", self.ctx.timeouts.verify, healthy)


async def _nothing() -> None:
    return None
