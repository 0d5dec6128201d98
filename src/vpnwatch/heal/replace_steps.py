"""The steps of a replacement (`heal.replace` runs them in order, resumably).

Each step first checks whether it is already done, acts through the mutation gate, and
returns what the heal record learns; errors are retried by the caller within the step's
deadline (`heal.steps`).
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any

from vpnwatch.adapters.aws import AwsApiError
from vpnwatch.adapters.ec2_actions import HEAL_TAG, LaunchSpec
from vpnwatch.adapters.vyos_errors import SshAuthFailed
from vpnwatch.core.records import HealRecord
from vpnwatch.errors import ParseError
from vpnwatch.heal.context import ReplaceContext
from vpnwatch.heal.hostkey import key_is_printed
from vpnwatch.heal.preflight import LaunchPlan, PreflightInput, run_preflight, vpn_seed
from vpnwatch.heal.restore import RestoreMismatch, restore
from vpnwatch.heal.steps import HealFailed, NotYet, settling, until_ready
from vpnwatch.model import ConsoleHostKeys
from vpnwatch.offloop import OP_PARSE_DEADLINE, parse_off_loop
from vpnwatch.parsers import parse_printed_fingerprints


class TwinDied(Exception):
    """The launched twin reached `terminated` (its StateReason says why)."""


class ReplacementSteps:
    """The step methods; `Replacement` supplies the record, the context and the loop."""

    record: HealRecord
    ctx: ReplaceContext
    ctx_step: str

    def _spec(self) -> LaunchSpec:
        assert self.record.launch_spec is not None
        return LaunchSpec.from_json(self.record.launch_spec)

    def _plan(self) -> LaunchPlan:
        return LaunchPlan.from_json(self.record.extra["launch"])

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
                vpn_seed=await vpn_seed(self.ctx.vpn_seed),
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
                        client_token=self.record.launch_token(self.ctx.fence()),
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

        async def printed() -> ConsoleHostKeys | None:
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
            try:  # off the loop: the console is the instance's to write
                found = await parse_off_loop(
                    parse_printed_fingerprints, text or "", deadline=OP_PARSE_DEADLINE,
                    what="console output",
                )  # fmt: skip
            except ParseError as exc:  # a later boot may print a clean block: wait for it
                raise NotYet(f"console output: {exc}") from None
            return found if found is not None and found.fingerprints else None

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

        # The access gates each change on its own (upload, merge, save, delete): a lease lost
        # or a pause mid-restore stops before the next one.
        self.ctx.log.info(
            "restoring backup", router=self.record.router, version=version,
            instance=self.record.new_instance_id,
        )  # fmt: skip
        try:
            release = await restore(access, text, self.ctx.strip_sections)
        except SshAuthFailed as exc:
            raise HealFailed(
                f"the new router refused vpnwatch's key ({exc}): was the user data's "
                "ssh_authorized_keys applied?"
            ) from None
        except RestoreMismatch as exc:
            raise HealFailed(f"restore not saved: {exc}") from None
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
