"""The I/O of `vpnwatch render`: AWS's answers about each router's connections, and, over
SSH through the VyOS adapter, a router's `show version` and running configuration.

Read-only everywhere. The answers hold pre-shared keys: nothing here logs them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vpnwatch.adapters.aws import AwsCallFailed, AwsClient
from vpnwatch.adapters.vyos import RouterEndpoint, VyosClient
from vpnwatch.backup.targets import backup_targets
from vpnwatch.config import Config
from vpnwatch.model import RouterAwsView
from vpnwatch.observe import RouterPlan
from vpnwatch.parsers import parse_config
from vpnwatch.render.assemble import RouterFacts
from vpnwatch.render.model import VyosVersion
from vpnwatch.render.version import vyos_version

Json = Mapping[str, Any]


@dataclass(frozen=True)
class Fetched:
    facts: Mapping[str, RouterFacts]
    views: Mapping[str, RouterAwsView]


async def _region_facts(
    aws: AwsClient, region: str, views: Sequence[RouterAwsView]
) -> dict[str, RouterFacts]:
    vpn_ids = sorted({c.vpn_connection_id for v in views for c in v.connections})
    items: list[Json] = []
    if vpn_ids:
        found = await aws.call("ec2", region, "describe_vpn_connections", VpnConnectionIds=vpn_ids)
        items = list(found.get("VpnConnections", []))
    vgw_ids = sorted({str(i["VpnGatewayId"]) for i in items if i.get("VpnGatewayId")})
    subnet_ids = sorted(
        {v.instance.subnet_id for v in views if v.instance and v.instance.subnet_id}
    )
    cgws, vgws, subnets = await asyncio.gather(
        aws.call("ec2", region, "describe_customer_gateways"),
        aws.call("ec2", region, "describe_vpn_gateways", VpnGatewayIds=vgw_ids)
        if vgw_ids
        else _empty("VpnGateways"),
        aws.call("ec2", region, "describe_subnets", SubnetIds=subnet_ids)
        if subnet_ids
        else _empty("Subnets"),
    )
    gateways = {str(g["VpnGatewayId"]): g for g in vgws.get("VpnGateways", [])}
    vpc_ids = sorted(
        {str(a["VpcId"]) for g in gateways.values() for a in g.get("VpcAttachments") or ()}
    )
    vpcs = await aws.call("ec2", region, "describe_vpcs", VpcIds=vpc_ids) if vpc_ids else {}
    vpc_cidrs = {
        str(v["VpcId"]): tuple(
            {v.get("CidrBlock", "")}
            | {
                a["CidrBlock"]
                for a in v.get("CidrBlockAssociationSet") or ()
                if (a.get("CidrBlockState") or {}).get("State", "associated") == "associated"
            }
        )
        for v in vpcs.get("Vpcs", [])
    }
    subnet_cidr = {str(s["SubnetId"]): str(s["CidrBlock"]) for s in subnets.get("Subnets", [])}
    by_id = {str(i.get("VpnConnectionId")): i for i in items}
    customer = {str(c["CustomerGatewayId"]): c for c in cgws.get("CustomerGateways", [])}
    facts = {}
    for view in views:
        instance = view.instance
        facts[view.router] = RouterFacts(
            name=view.router,
            private_ip=instance.private_ip if instance else None,
            subnet_cidr=subnet_cidr.get(instance.subnet_id or "") if instance else None,
            connections=tuple(
                by_id[c.vpn_connection_id] for c in view.connections if c.vpn_connection_id in by_id
            ),
            customer_gateways=customer,
            vpn_gateways=gateways,
            vpc_cidrs=vpc_cidrs,
        )
    return facts


async def _empty(key: str) -> dict[str, Any]:
    return {key: []}


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
        *(_region_facts(aws, region, region_views) for region, region_views in by_region.items())
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
