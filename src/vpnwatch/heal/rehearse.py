"""A rehearsal: the replacement's preflight for one router, for real (reads and DryRun=True
calls, never a mutation), so IAM or AMI drift shows before a router dies.

`vpnwatch heal --rehearse` runs it once (commands/heal.py); the daemon runs it for every
router on a slow schedule (service/rehearsals.py) and exports `vpnwatch_rehearsal_ok`.
The checks are the ones the replacement's `preflight` step makes before its point of no
return, plus the backup the restore would need.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vpnwatch.adapters.ec2_actions import Ec2Actions
from vpnwatch.config import Config
from vpnwatch.errors import VpnwatchError
from vpnwatch.heal.context import Backups
from vpnwatch.heal.preflight import Check, PreflightInput, run_preflight
from vpnwatch.model import RouterAwsView


@dataclass(frozen=True)
class Rehearsal:
    router: str
    ok: bool
    checks: tuple[Check, ...]
    at: float  # when it finished (epoch)

    def to_json(self) -> dict[str, Any]:
        return {"router": self.router, "ok": self.ok, "checks": [c.to_json() for c in self.checks]}

    def failure(self) -> str:
        """The first failed check, as the reason line shows it ("" when ok)."""
        failed = [c for c in self.checks if not c.ok]
        if not failed:
            return ""
        more = f" (+{len(failed) - 1} more)" if len(failed) > 1 else ""
        return f"{failed[0].name}: {failed[0].detail}{more}"


async def rehearse(
    config: Config,
    router: str,
    view: RouterAwsView,
    *,
    ec2_for: Callable[[str], Ec2Actions],
    backups: Backups,
    public_key: str,
    clock: Callable[[], float],
) -> Rehearsal:
    """The replacement preflight for `router` (its AWS view from an observation), as the
    daemon would run it now."""

    def done(ok: bool, checks: list[Check]) -> Rehearsal:
        return Rehearsal(router, ok, tuple(checks), clock())

    if view.error or view.instance is None:
        return done(False, [Check("instance", False, view.error or "no instance found")])
    backup = backups.latest_valid_backup(router)
    checks = [Check("backup", backup is not None, backup[1] if backup else "no valid backup")]
    try:
        ec2 = ec2_for(view.region)
        instance_id = view.instance.instance_id
        spec = await ec2.capture_launch_spec(instance_id)
        address = await ec2.address(view.elastic_ip) if view.elastic_ip else None
        tag = config.managed_tag
        result = await run_preflight(
            ec2,
            PreflightInput(
                router=router, heal_id=f"{router}-rehearsal", strategy=config.heal.strategy,
                spec=spec, elastic_ip=view.elastic_ip,
                allocation_id=address.allocation_id if address else None,
                backup_text=backup[0] if backup else None,
                ami_override=config.heal.ami.get(router), public_key=public_key,
                managed_tag=(tag.key, tag.value),
            ),
        )  # fmt: skip
    except VpnwatchError as exc:
        return done(False, [*checks, Check("rehearsal", False, str(exc))])
    checks += result.checks
    return done(result.ok and backup is not None, checks)
