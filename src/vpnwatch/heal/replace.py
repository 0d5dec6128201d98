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

from dataclasses import replace
from typing import Any

from vpnwatch.core.records import HealRecord
from vpnwatch.core.resume import POINT_OF_NO_RETURN
from vpnwatch.heal.context import Backups, ReplaceContext, RouterAccess
from vpnwatch.heal.replace_steps import ReplacementSteps, TwinDied
from vpnwatch.heal.steps import HealFailed, settling, within
from vpnwatch.vocabulary import Action

__all__ = [
    "ENI_STEPS", "SAME_IP_STEPS", "Backups", "HealFailed", "ReplaceContext", "Replacement",
    "RouterAccess",
]  # fmt: skip

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


class Replacement(ReplacementSteps):
    def __init__(self, record: HealRecord, ctx: ReplaceContext) -> None:
        self.record = record
        self.ctx = ctx
        self.ctx_step = ""  # the step running now (for retry log lines)

    @property
    def steps(self) -> tuple[str, ...]:
        return ENI_STEPS if self.record.strategy == "eni" else SAME_IP_STEPS

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
            if step == POINT_OF_NO_RETURN[Action.REPLACE]:
                # Written ahead: a terminate in flight when this process dies (or is fenced
                # off) may have reached AWS, so the next leader resumes rather than abandons.
                self._save(replace(self.record, extra={**self.record.extra, "started": step}))
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


async def _nothing() -> None:
    return None
