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
from vpnwatch.backup.targets import backup_targets
from vpnwatch.commands.common import EXIT_FAILED, EXIT_OK, config_problems, load
from vpnwatch.config import Config
from vpnwatch.logs import configure_logging, get_logger
from vpnwatch.observe import observe_once, plan_routers
from vpnwatch.service.wiring import build_backup_side
from vpnwatch.statestore.files import FileStateStore
from vpnwatch.vocabulary import Mode


def run_backup(config_path: str, router: str | None, as_json: bool) -> int:
    config = load(config_path)
    if isinstance(config, int):
        return config
    names = [r.name for s in config.sites for r in s.routers]
    if router is not None and router not in names:
        return config_problems(
            config_path, [f"no router named {router!r} (known: {', '.join(names)})"]
        )
    if not config.ssh.enabled:
        return config_problems(config_path, ["ssh.enabled is false: backups are pulled over SSH"])
    configure_logging("json" if as_json else config.logging.format, "warning")
    results = asyncio.run(backup_now(config, router))
    if as_json:
        print(json.dumps([r.to_json() for r in results], indent=2))
    else:
        print(format_results(results))
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAILED


async def backup_now(config: Config, router: str | None = None) -> list[BackupResult]:
    """Discover the routers' SSH addresses, pull and store every (or one) router's config."""
    stored = FileStateStore(config.state_dir).read(Mode.of(config.heal.dry_run))
    for problem in stored.problems:
        if problem.file == "fleet.json":  # relaunched routers are then looked up as configured
            print(f"vpnwatch backup: warning: {problem.file}: {problem.why}", file=sys.stderr)
    fleet = stored.fleet
    plans = [p for p in plan_routers(config, fleet.instances) if router in (None, p.name)]
    side = build_backup_side(config, get_logger("vpnwatch.backup"))
    try:
        views = {}
        if any(p.ssh is not None and p.ssh.host is None for p in plans):  # EIPs from AWS
            snapshot = await observe_once(plans, side.aws, None, clock=time.time)
            views = {obs.name: obs.aws for obs in snapshot.routers}
        targets, unreachable = backup_targets(plans, views, fleet.host_keys)
        pulled = {r.router: r for r in await side.manager.pull_all(targets)}
        pulled.update({r.router: r for r in unreachable})
        return [pulled[p.name] for p in plans]
    finally:
        await side.close()


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
