"""What AWS says about the VPN connections that end on some routers, as the renderer needs
it (`vpnwatch.render.assemble.RouterFacts`): a few read-only calls per region, whatever the
number of routers or tunnels (DescribeVpnConnections, -CustomerGateways, -VpnGateways,
-Subnets, -Vpcs).

Used by `vpnwatch render`, by the daemon's drift check on each backup pull (a slow schedule,
never the cycle's path) and by a replacement that seeds its twin's VPN configuration. The
answers hold pre-shared keys: nothing here logs them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from vpnwatch.adapters.aws import AwsClient
from vpnwatch.model import RouterAwsView
from vpnwatch.render.assemble import RouterFacts

Json = Mapping[str, Any]


async def region_facts(
    aws: AwsClient, region: str, views: Sequence[RouterAwsView]
) -> dict[str, RouterFacts]:
    """The facts of `views` (routers of one region, as observed)."""
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
