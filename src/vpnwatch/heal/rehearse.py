"""`vpnwatch heal --config F --router R --rehearse [--json]`: the replacement's preflight, for
real (reads and DryRun=True calls, never a mutation), so IAM or AMI drift shows before a
router dies. Prints {"router", "ok", "checks": [{"name", "ok", "detail"}]}; exit 0 when
every check passes, 1 when one does not, 2 on a config error.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from vpnwatch.adapters.aws import AwsClient
from vpnwatch.adapters.ec2_actions import Ec2Actions
from vpnwatch.app import aws_settings, vyos_client
from vpnwatch.backup.manager import BackupManager
from vpnwatch.backup.wiring import store_for_config
from vpnwatch.config import Config
from vpnwatch.errors import VpnwatchError
from vpnwatch.heal.preflight import Check, PreflightInput, run_preflight
from vpnwatch.heal.wiring import mutation_settings
from vpnwatch.observe import plan_routers
from vpnwatch.statefiles import FleetState

EXIT_OK, EXIT_NOT_OK, EXIT_CONFIG = 0, 1, 2


class _NoConfigSource:
    async def run_op(self, router: Any, command: str) -> str:
        raise VpnwatchError("a rehearsal does not pull configs")


async def rehearse(config: Config, router: str) -> tuple[bool, list[Check]]:
    """(ok, checks) of the replacement preflight for `router`, as the daemon would run it."""
    aws, mutations = AwsClient(aws_settings(config)), AwsClient(mutation_settings(config))
    ssh = vyos_client(config) if config.ssh.key_file is not None else None
    try:
        plans = [p for p in plan_routers(config, FleetState(config.state_dir).instances)
                 if p.name == router]  # fmt: skip
        observed = await aws.observe([plans[0].selector])
        view = observed.views[router]
        if view.error or view.instance is None:
            why = view.error or "no instance found for the router"
            return False, [Check("instance", False, why)]
        ec2 = Ec2Actions(mutations, view.region)
        instance_id = view.instance.instance_id
        spec = await ec2.capture_launch_spec(instance_id)
        backups = BackupManager(store_for_config(config, aws), _NoConfigSource())
        backup = await backups.find_latest_valid(router)
        address = await ec2.address(view.elastic_ip) if view.elastic_ip else None
        result = await run_preflight(
            ec2,
            PreflightInput(
                router=router, heal_id=f"{router}-rehearsal", strategy=config.heal.strategy,
                spec=spec, elastic_ip=view.elastic_ip,
                allocation_id=address.allocation_id if address else None,
                backup_text=backup.text if backup else None,
                ami_override=config.heal.ami.get(router),
                public_key=ssh.public_key_line() if ssh is not None else "",
                managed_tag=(config.managed_tag.key, config.managed_tag.value),
            ),
        )  # fmt: skip
        checks = list(result.checks)
        checks.insert(0, Check("backup", backup is not None,
                               backup.version if backup else "no valid backup"))  # fmt: skip
        return result.ok and backup is not None, checks
    except VpnwatchError as exc:
        return False, [Check("rehearsal", False, str(exc))]
    finally:
        if ssh is not None:
            await ssh.close()
        aws.close()
        mutations.close()


def run_rehearsal(config: Config, router: str | None, as_json: bool) -> int:
    names = {r.name for s in config.sites for r in s.routers}
    if router is None or router not in names:
        print(f"vpnwatch heal: --rehearse needs --router, one of {', '.join(sorted(names))}",
              file=sys.stderr)  # fmt: skip
        return EXIT_CONFIG
    ok, checks = asyncio.run(rehearse(config, router))
    report = {"router": router, "ok": ok, "checks": [c.to_json() for c in checks]}
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        for check in checks:
            print(f"{'ok  ' if check.ok else 'FAIL'}  {check.name}: {check.detail}")
        print(f"{router}: {'ready to be replaced' if ok else 'NOT ready to be replaced'}")
    return EXIT_OK if ok else EXIT_NOT_OK
