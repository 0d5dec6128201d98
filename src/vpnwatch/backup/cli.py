"""`vpnwatch backup --config F [--router NAME] [--json]`: pull and store backups now.

Exit 0 when every router was backed up (changed or not), 1 when any failed, 2 on a config
error (or an unknown router name).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Sequence

from vpnwatch.backup.manager import BackupResult
from vpnwatch.config import Config
from vpnwatch.errors import ConfigError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2


def run_backup(config_path: str, router: str | None, as_json: bool) -> int:
    from vpnwatch.config import load_config
    from vpnwatch.logs import configure_logging

    try:
        config = load_config(config_path)
    except ConfigError as exc:
        return _config_error(config_path, exc.problems)
    names = [r.name for s in config.sites for r in s.routers]
    if router is not None and router not in names:
        return _config_error(
            config_path, [f"no router named {router!r} (known: {', '.join(names)})"]
        )
    if not config.ssh.enabled:
        return _config_error(config_path, ["ssh.enabled is false: backups are pulled over SSH"])
    configure_logging("json" if as_json else config.logging.format, "warning")
    results = asyncio.run(backup_now(config, router))
    if as_json:
        print(json.dumps([r.to_json() for r in results], indent=2))
    else:
        print(format_results(results))
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAILED


async def backup_now(config: Config, router: str | None = None) -> list[BackupResult]:
    """Discover the routers' SSH addresses, pull and store every (or one) router's config."""
    from vpnwatch.adapters.aws import AwsClient
    from vpnwatch.app import aws_settings, vyos_client
    from vpnwatch.backup.targets import backup_targets
    from vpnwatch.backup.wiring import manager_for_config, store_for_config
    from vpnwatch.logs import get_logger
    from vpnwatch.observe import observe_once, plan_routers
    from vpnwatch.statefiles import FleetState

    fleet = FleetState(config.state_dir)
    plans = [p for p in plan_routers(config, fleet.instances) if router in (None, p.name)]
    aws = AwsClient(aws_settings(config))
    client = vyos_client(config)
    try:
        views = {}
        if any(p.ssh is not None and p.ssh.host is None for p in plans):  # EIPs from AWS
            snapshot = await observe_once(plans, aws, None, clock=time.time)
            views = {obs.name: obs.aws for obs in snapshot.routers}
        targets, unreachable = backup_targets(plans, views, fleet.host_keys)
        manager = manager_for_config(
            config, store_for_config(config, aws), client, log=get_logger("vpnwatch.backup")
        )
        pulled = {r.router: r for r in await manager.pull_all(targets)}
        pulled.update({r.router: r for r in unreachable})
        return [pulled[p.name] for p in plans]
    finally:
        await client.close()
        aws.close()


def format_results(results: Sequence[BackupResult]) -> str:
    lines = []
    for r in results:
        if not r.ok:
            lines.append(f"{r.router}: FAILED: {r.error}")
            continue
        what = "stored new version" if r.changed else "unchanged"
        removed = ", ".join(r.sections_removed) or "nothing"
        lines.append(f"{r.router}: {what} {r.version} at {r.location} (removed: {removed})")
    return "\n".join(lines)


def _config_error(path: str, problems: Sequence[str]) -> int:
    print(f"vpnwatch: invalid config {path}:", file=sys.stderr)
    for problem in problems:
        print(f"  - {problem}", file=sys.stderr)
    return EXIT_CONFIG
