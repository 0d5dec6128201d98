"""The I/O of `vpnwatch render`: AWS's answers about each router's connections, and, over
SSH through the VyOS adapter, a router's `show version` and running configuration.

Read-only everywhere. The answers hold pre-shared keys: nothing here logs them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from vpnwatch.adapters.aws import AwsCallFailed, AwsClient
from vpnwatch.adapters.vpn_facts import region_facts
from vpnwatch.adapters.vyos import RouterEndpoint, VyosClient
from vpnwatch.backup.targets import backup_targets
from vpnwatch.config import Config
from vpnwatch.model import RouterAwsView
from vpnwatch.observe import RouterPlan
from vpnwatch.parsers import parse_config
from vpnwatch.render.assemble import RouterFacts
from vpnwatch.render.model import VyosVersion
from vpnwatch.render.version import vyos_version


@dataclass(frozen=True)
class Fetched:
    facts: Mapping[str, RouterFacts]
    views: Mapping[str, RouterAwsView]


async def fetch_aws(aws: AwsClient, plans: Sequence[RouterPlan]) -> Fetched:
    """Each planned router's facts, from a few read-only calls per region."""
    observed = await aws.observe([p.selector for p in plans])
    views = dict(observed.views)
    failed = [views[p.name] for p in plans if p.name in views and views[p.name].error]
    if failed:
        raise AwsCallFailed(f"router {failed[0].router}: {failed[0].error}")
    by_region: dict[str, list[RouterAwsView]] = {}
    for plan in plans:
        by_region.setdefault(plan.selector.region, []).append(views[plan.name])
    results = await asyncio.gather(
        *(region_facts(aws, region, region_views) for region, region_views in by_region.items())
    )
    facts = {name: f for result in results for name, f in result.items()}
    return Fetched(facts, views)


def endpoints(
    plans: Sequence[RouterPlan], views: Mapping[str, RouterAwsView], host_keys: Mapping[str, str]
) -> dict[str, RouterEndpoint]:
    """Where each router's SSH is (the config's ssh_host, else its EIP), as backups find it."""
    targets, unreachable = backup_targets(plans, views, host_keys)
    if unreachable:
        raise AwsCallFailed(f"router {unreachable[0].router}: {unreachable[0].error}")
    return {t.router: t.endpoint for t in targets}


async def router_version(client: VyosClient, endpoint: RouterEndpoint) -> VyosVersion:
    """The syntax the router speaks, from `show version` (ParseError when unsure)."""
    return vyos_version(await client.run_op(endpoint, "show version"))


async def running_commands(client: VyosClient, endpoint: RouterEndpoint) -> tuple[str, ...]:
    """The router's running configuration as canonical `set` commands."""
    return parse_config(await client.run_op(endpoint, "show configuration")).commands


def ssh_needed(config: Config, version: VyosVersion | None, diff: bool) -> str | None:
    """Why SSH is needed but off (None: fine)."""
    if config.ssh.enabled or (version is not None and not diff):
        return None
    return "ssh.enabled is false: give --vyos, and --diff needs SSH to read the routers"
