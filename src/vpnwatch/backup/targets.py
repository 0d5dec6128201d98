"""Where each router's SSH lives: the config's ssh_host/ssh_port, else its EIP (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from vpnwatch.adapters.vyos import RouterEndpoint
from vpnwatch.backup.manager import BackupResult, BackupTarget
from vpnwatch.model import RouterAwsView
from vpnwatch.observe import RouterPlan


def backup_targets(
    plans: Sequence[RouterPlan],
    views: Mapping[str, RouterAwsView],
    host_keys: Mapping[str, str] | None = None,
) -> tuple[tuple[BackupTarget, ...], tuple[BackupResult, ...]]:
    """(targets, failures for routers that cannot be reached).

    `views`: one AWS observation (only needed for routers without ssh_host); `host_keys`:
    the fleet state's keys of relaunched routers, trusted instead of known_hosts.
    """
    keys = host_keys or {}
    targets: list[BackupTarget] = []
    failures: list[BackupResult] = []
    for plan in plans:
        if plan.ssh is None:
            failures.append(BackupResult(plan.name, ok=False, error="ssh is disabled in config"))
            continue
        view = views.get(plan.name)
        endpoint = RouterEndpoint.of_router(
            plan.name,
            ssh_host=plan.ssh.host,
            elastic_ip=view.elastic_ip if view is not None else None,
            port=plan.ssh.port,
            trusted_key=keys.get(plan.name),
        )
        if endpoint is None:
            why = view.error if view is not None and view.error else "no EIP found"
            failures.append(
                BackupResult(plan.name, ok=False, error=f"no ssh_host and no EIP known ({why})")
            )
            continue
        targets.append(BackupTarget(plan.name, endpoint))
    return tuple(targets), tuple(failures)
