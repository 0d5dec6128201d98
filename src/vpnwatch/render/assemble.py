"""One router's render input from AWS's answers and the site config (pure).

The router's VPN connections are those whose customer gateway is its EIP; each connection's
VPN gateway is attached to a VPC, and the site whose `vpn.vpc_cidr` is that VPC's CIDR is the
far end: its VPC is what the router imports. A hub thus gets one IN policy per spoke.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from vpnwatch.render.aws_inputs import connection_params
from vpnwatch.render.model import (
    ConnectionIntent,
    RenderConfigError,
    RenderInputError,
    RouterIntent,
    SiteIntent,
)

Json = Mapping[str, Any]


@dataclass(frozen=True)
class RouterFacts:
    """What AWS says about one router and the VPN connections that end on it."""

    name: str
    private_ip: str | None
    subnet_cidr: str | None
    connections: tuple[Json, ...] = field(repr=False)  # DescribeVpnConnections items (keys!)
    customer_gateways: Mapping[str, Json] = field(default_factory=dict)  # by id
    vpn_gateways: Mapping[str, Json] = field(default_factory=dict)  # by id
    vpc_cidrs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # VPC id → CIDRs


def _asn(value: object) -> int | None:
    text = str(value) if value is not None else ""
    return int(text) if text.isdigit() else None


def _far_site(
    vpn_id: str, gateway: Json, facts: RouterFacts, sites: Sequence[SiteIntent]
) -> SiteIntent:
    attached = [
        a.get("VpcId")
        for a in gateway.get("VpcAttachments") or ()
        if a.get("State") in ("attached", "attaching")
    ]
    cidrs = {c for vpc in attached for c in facts.vpc_cidrs.get(str(vpc), ())}
    found = [s for s in sites if s.vpc_cidr in cidrs]
    if len(found) != 1:
        vpcs = ", ".join(str(v) for v in attached) or "no VPC"
        raise RenderConfigError(
            [
                f"{vpn_id}: its VPN gateway {gateway.get('VpnGatewayId')} is attached to "
                f"{vpcs} ({', '.join(sorted(cidrs)) or 'no CIDR'}); exactly one site's "
                "vpn.vpc_cidr must be that VPC's CIDR"
            ]
        )
    return found[0]


def _vpc_router(name: str, subnet_cidr: str | None) -> str:
    if subnet_cidr is None:
        raise RenderInputError(f"router {name}: AWS reports no subnet for its instance")
    return str(ipaddress.IPv4Network(subnet_cidr, strict=False)[1])


def router_intent(
    facts: RouterFacts,
    site: SiteIntent,
    sites: Sequence[SiteIntent],
    bgp_asn: int | None,
) -> RouterIntent:
    """The router's render input; RenderInputError / RenderConfigError say what is wrong."""
    if facts.private_ip is None:
        raise RenderInputError(f"router {facts.name}: AWS reports no instance or private IP")
    live = [c for c in facts.connections if c.get("State") not in ("deleted", "deleting")]
    if not live:
        raise RenderInputError(
            f"router {facts.name}: no VPN connection has its Elastic IP as customer gateway"
        )
    order = {s.name: n for n, s in enumerate(sites)}
    connections = []
    for item in live:
        vpn_id = str(item.get("VpnConnectionId"))
        if item.get("TransitGatewayId") and not item.get("VpnGatewayId"):
            raise RenderInputError(f"{vpn_id}: transit gateway connections are not rendered")
        gateway = facts.vpn_gateways.get(str(item.get("VpnGatewayId")))
        if gateway is None:
            raise RenderInputError(f"{vpn_id}: its VPN gateway is not in DescribeVpnGateways")
        cgw = facts.customer_gateways.get(str(item.get("CustomerGatewayId")), {})
        params = connection_params(
            item, aws_asn=_asn(gateway.get("AmazonSideAsn")), customer_asn=_asn(cgw.get("BgpAsn"))
        )
        far = _far_site(vpn_id, gateway, facts, sites)
        connections.append(ConnectionIntent(params, far.name, (far.vpc_cidr,)))
    connections.sort(key=lambda c: (order[c.far_site], c.params.vpn_connection_id))
    aws_asns = sorted({c.params.customer_asn for c in connections if c.params.customer_asn})
    if bgp_asn is not None and set(aws_asns) - {bgp_asn}:
        listed = ", ".join(str(a) for a in aws_asns)
        raise RenderConfigError(
            [
                f"site {site.name}: vpn.bgp_asn {bgp_asn} differs from the customer gateway's "
                f"BGP ASN in AWS ({listed})"
            ]
        )
    if bgp_asn is None and len(aws_asns) != 1:
        raise RenderInputError(
            f"router {facts.name}: cannot tell its BGP ASN from AWS; set vpn.bgp_asn"
        )
    local_asn = bgp_asn if bgp_asn is not None else aws_asns[0]
    return RouterIntent(
        name=facts.name,
        site=site,
        private_ip=facts.private_ip,
        vpc_router_ip=_vpc_router(facts.name, facts.subnet_cidr),
        local_asn=local_asn,
        connections=tuple(connections),
    )
