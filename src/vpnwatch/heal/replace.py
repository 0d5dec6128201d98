"""Crash-safe instance replacement: `same-ip` (the article's runbook) or `eni`.

Each step first checks whether it is already done (so a restarted daemon resumes without a
second instance or a lost EIP), then acts through the mutation gate, then the progress is
persisted. A step that cannot finish raises; the heal is then marked failed and alerted.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from vpnwatch.adapters.aws import AwsApiError
from vpnwatch.adapters.ec2_actions import HEAL_TAG, Ec2Actions, LaunchSpec
from vpnwatch.adapters.vyos_errors import SshAuthFailed
from vpnwatch.core.records import HealRecord
from vpnwatch.errors import ParseError, PermanentError, TemporaryError
from vpnwatch.heal.gate import MutationGate
from vpnwatch.heal.progress import ProgressStore
from vpnwatch.parsers import host_key_matches, parse_console_host_keys

BACKUP_PATH = "/home/vyos/backup.conf"
# The runbook's `delete system ntp` drops the fresh image's NTP servers so the merge brings
# the saved ones; VyOS ≥ 1.4 keeps NTP under `service ntp`, where `delete system ntp` fails.
NTP_PATHS = ("system ntp", "service ntp")


def restore_commands(running_commands: str) -> tuple[str, ...]:
    """The restore script for a router whose `show configuration commands` is given."""
    present = [
        path
        for path in NTP_PATHS
        if any(line.startswith(f"set {path} ") for line in running_commands.splitlines())
    ]
    deletes = tuple(f"delete {path}" for path in present)
    return (*deletes, *(("commit",) if deletes else ()), f"merge {BACKUP_PATH}")


SAME_IP_STEPS = (
    "capture", "tag-old", "terminate", "wait-terminated", "launch", "configure",
    "associate-eip", "wait-ssh", "verify-host-key", "restore", "verify",
)  # fmt: skip
# The eni strategy first makes the primary interface outlive the instance.
ENI_STEPS = (*SAME_IP_STEPS[:2], "keep-eni", *SAME_IP_STEPS[2:])


class _NotYet(TemporaryError):
    """A condition that resolves itself while the new instance finishes booting."""


class HealFailed(PermanentError):
    """The heal cannot continue; a human has to look (the reason says why)."""


class RouterAccess(Protocol):
    """How the workflow reaches the relaunched router (adapter + where it lives)."""

    async def host_key(self) -> str: ...

    async def restore(self, text: str, trusted_key: str) -> None: ...


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
    on_record: Callable[[HealRecord], None] = lambda record: None
    monotonic: Callable[[], float] = time.monotonic
    fence: Callable[[], int] = lambda: 0  # the leader's fencing token, for the ClientToken


async def _until(
    ctx: ReplaceContext, what: str, limit: float, probe: Callable[[], Awaitable[Any]]
) -> Any:
    """Poll `probe` until it returns something truthy; temporary errors are retried."""
    deadline = ctx.monotonic() + limit
    last = ""
    while True:
        try:
            result = await probe()
            if result:
                return result
        except TemporaryError as exc:
            last = f" (last error: {exc})"
        if ctx.monotonic() >= deadline:
            raise HealFailed(f"timed out after {limit:.0f} s waiting for {what}{last}")
        await ctx.sleep(ctx.timeouts.poll)


class Replacement:
    def __init__(self, record: HealRecord, ctx: ReplaceContext) -> None:
        self.record = record
        self.ctx = ctx

    @property
    def steps(self) -> tuple[str, ...]:
        return ENI_STEPS if self.record.strategy == "eni" else SAME_IP_STEPS

    def _spec(self) -> LaunchSpec:
        assert self.record.launch_spec is not None
        return LaunchSpec.from_json(self.record.launch_spec)

    async def run(self) -> HealRecord:
        if self.ctx.gate.dry_run:
            return await self._dry_run()
        for step in self.steps:
            if step in self.record.steps_done:
                continue
            self.ctx.on_step(step)
            self.ctx.log.info(
                "heal step", heal_id=self.record.heal_id, router=self.record.router, step=step
            )
            if step == "terminate":  # written ahead: a terminate in flight is not undone
                self.record = replace(self.record, extra={**self.record.extra, "started": step})
                self.ctx.store.save(self.record)
            changes = await self._run_step(step)
            self.record = self.record.done(step, **changes)
            self.ctx.store.save(self.record)
            self.ctx.on_record(self.record)
        self.record = self.record.done("finished", status="done")
        self.ctx.store.save(self.record)
        return self.record

    async def _run_step(self, step: str) -> dict[str, Any]:
        """Every step is idempotent, so a temporary error (throttling past the call budget,
        an SSH blip) is retried until the step's deadline instead of stranding a router
        whose old instance is already gone."""
        action = getattr(self, "_" + step.replace("-", "_"))
        deadline = self.ctx.monotonic() + self.ctx.timeouts.launch
        while True:
            try:
                changes: dict[str, Any] = await action() or {}
                return changes
            except TemporaryError as exc:
                if self.ctx.monotonic() >= deadline:
                    raise HealFailed(f"{step}: still failing after retries: {exc}") from None
                self.ctx.log.warning(
                    "heal step retrying", heal_id=self.record.heal_id, step=step, error=str(exc)
                )
                await self.ctx.sleep(self.ctx.timeouts.poll)

    async def _dry_run(self) -> HealRecord:
        for step in self.steps:
            self.ctx.on_step(step)
            await self.ctx.gate.mutate(
                heal_id=self.record.heal_id,
                router=self.record.router,
                action="replace",
                step=step,
                description=f"{step} for {self.record.router} "
                f"({self.record.strategy}, old instance {self.record.old_instance_id})",
                call=_nothing,
            )
        self.record = self.record.done("finished", status="done")
        self.ctx.store.save(self.record)
        return self.record

    async def _mutate(self, step: str, description: str, call: Callable[[], Awaitable[Any]]) -> Any:
        return await self.ctx.gate.mutate(
            heal_id=self.record.heal_id,
            router=self.record.router,
            action="replace",
            step=step,
            description=description,
            call=call,
        )

    # ------------------------------------------------------------ steps

    async def _capture(self) -> dict[str, Any]:
        old = self.record.old_instance_id
        assert old is not None
        spec = await self.ctx.ec2.capture_launch_spec(old)
        key, value = self.ctx.managed_tag
        if spec.tags.get(key) != value:
            raise HealFailed(f"instance {old} lacks the managed tag {key}={value}: not touching it")
        if (
            self.record.backup_version is None
            and self.ctx.backups.latest_valid_backup(self.record.router) is None
        ):
            raise HealFailed(f"no valid backup for {self.record.router}: not replacing it")
        # The EIP is the router's identity (its customer gateway): capture it from AWS, not
        # only from the observation that triggered the heal.
        address = (
            await self.ctx.ec2.address(self.record.elastic_ip)
            if self.record.elastic_ip
            else await self.ctx.ec2.address_of_instance(old)
        )
        if address is None:
            raise HealFailed(f"no Elastic IP found for {old}: not replacing it")
        return {
            "launch_spec": spec.to_json(),
            "allocation_id": address.allocation_id,
            "elastic_ip": address.public_ip,
        }

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

    async def _terminate(self) -> None:
        old = self.record.old_instance_id
        assert old is not None
        item = await self.ctx.ec2.instance(old)
        if item is None or item["State"]["Name"] in ("shutting-down", "terminated"):
            return
        if self._spec().disable_api_termination:
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

        await _until(self.ctx, f"{old} to terminate", self.ctx.timeouts.terminate, gone)

    async def _launch(self) -> dict[str, Any]:
        for item in await self.ctx.ec2.instances_tagged(HEAL_TAG, self.record.heal_id):
            if item["InstanceId"] != self.record.old_instance_id and item["State"]["Name"] in (
                "pending",
                "running",
            ):
                return {"new_instance_id": item["InstanceId"]}  # launched before a restart
        spec = self._spec()

        async def launch() -> str | None:
            try:
                new_id: str | None = await self._mutate(
                    "launch",
                    f"launch a twin of {self.record.old_instance_id} on {spec.private_ip}",
                    lambda: self.ctx.ec2.run_twin(
                        spec,
                        client_token=self.record.launch_token(self.ctx.fence()),
                        heal_id=self.record.heal_id,
                        keep_eni=self.record.strategy == "eni",
                    ),
                )
                return new_id
            except AwsApiError as exc:
                if exc.code == "InvalidIPAddress.InUse":  # the old interface is not released yet
                    self.ctx.log.info("private IP still in use; waiting", router=self.record.router)
                    return None
                raise

        new_id = await _until(
            self.ctx, f"{spec.private_ip} to be free", self.ctx.timeouts.launch, launch
        )
        return {"new_instance_id": new_id}

    async def _configure(self) -> None:
        new = self.record.new_instance_id
        assert new is not None
        if await self.ctx.ec2.source_dest_check(new):
            await self._mutate(
                "configure",
                f"disable source/dest check on {new}",
                lambda: self.ctx.ec2.disable_source_dest_check(new),
            )
        if self._spec().disable_api_termination:
            await self._mutate(
                "configure",
                f"enable termination protection on {new}",
                lambda: self.ctx.ec2.set_termination_protection(new, True),
            )

    async def _associate_eip(self) -> None:
        new = self.record.new_instance_id
        eip, allocation = self.record.elastic_ip, self.record.allocation_id
        assert new is not None
        if eip is None or allocation is None:
            return
        address = await self.ctx.ec2.address(eip)
        if address is not None and (
            address.instance_id == new
            or (self.record.strategy == "eni" and address.eni_id == self._spec().eni_id)
        ):
            return  # already there (the kept ENI carries its EIP with it)
        await self._mutate(
            "associate-eip",
            f"move EIP {eip} to {new}",
            lambda: self.ctx.ec2.associate_eip(allocation, new),
        )

    async def _wait_ssh(self) -> None:
        await _until(
            self.ctx, "SSH on the new instance", self.ctx.timeouts.ssh, self.ctx.access.host_key
        )

    async def _verify_host_key(self) -> dict[str, Any]:
        new = self.record.new_instance_id
        assert new is not None

        async def console_keys() -> Any:
            text = await self.ctx.ec2.console_output(new)
            try:
                return parse_console_host_keys(text)
            except ParseError:
                return None  # not printed yet: cloud-init writes it late in boot

        keys = await _until(
            self.ctx,
            f"host keys in {new}'s console output",
            self.ctx.timeouts.console,
            console_keys,
        )
        live = await self.ctx.access.host_key()
        key_type, _, blob = live.partition(" ")
        if not host_key_matches(keys, key_type, blob.split(" ")[0]):
            raise HealFailed(
                f"host key of {new} does not match its console output: refusing to restore"
            )
        return {"host_key": live}

    async def _restore(self) -> dict[str, Any]:
        backup = self.ctx.backups.latest_valid_backup(self.record.router)
        if backup is None:
            raise HealFailed(f"no valid backup for {self.record.router}")
        text, version = backup
        key = self.record.host_key
        assert key is not None
        try:
            await self._restore_once(text, version, key)
        except SshAuthFailed as exc:  # cloud-init may not have installed the login key yet
            raise _NotYet(str(exc)) from None
        return {"backup_version": version}

    async def _restore_once(self, text: str, version: str, key: str) -> None:
        await self._mutate(
            "restore",
            f"restore backup {version} onto {self.record.new_instance_id}",
            lambda: self.ctx.access.restore(text, key),
        )

    async def _verify(self) -> None:
        new = self.record.new_instance_id
        assert new is not None

        async def healthy() -> bool:
            ok, why = await self.ctx.verify(new)
            if not ok:
                self.ctx.log.info("verifying replacement", router=self.record.router, detail=why)
            return ok

        await _until(
            self.ctx, "BGP Established and AWS tunnels UP", self.ctx.timeouts.verify, healthy
        )


async def _nothing() -> None:
    return None
