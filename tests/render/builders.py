"""Inputs of the render tests (no tests here): the article's spoke and hub, AWS's side of
their connections as TunnelOptions would describe it."""

from __future__ import annotations

from typing import Any

from vpnwatch.render import ConnectionIntent, RouterIntent, SiteIntent, from_tunnel_options

HUB = SiteIntent("hub", "hub", "10.0.0.0/16", "10.0.0.0/8")
SPOKE1 = SiteIntent("spoke1", "spoke", "10.1.0.0/16", "10.1.0.0/16")
SPOKE2 = SiteIntent("spoke2", "spoke", "10.2.0.0/16", "10.2.0.0/16")
SITES = (HUB, SPOKE1, SPOKE2)


def option(outside: str, cidr: str, psk: str, **extra: Any) -> dict[str, Any]:
    return {"OutsideIpAddress": outside, "TunnelInsideCidr": cidr, "PreSharedKey": psk, **extra}


def connection(vpn_id: str, far: SiteIntent, *options: dict[str, Any]) -> ConnectionIntent:
    params = from_tunnel_options(vpn_id, options, aws_asn=64512, customer_asn=65000)
    return ConnectionIntent(params, far.name, (far.vpc_cidr,))


def spoke1_router() -> RouterIntent:
    """spoke1-r1: one connection to the hub's VPN gateway."""
    return RouterIntent(
        name="spoke1-r1",
        site=SPOKE1,
        private_ip="10.1.0.11",
        vpc_router_ip="10.1.0.1",
        local_asn=65000,
        connections=(
            connection(
                "vpn-0a1",
                HUB,
                option("198.51.100.1", "169.254.10.0/30", "Key.tunnel_1A"),
                option("198.51.100.2", "169.254.10.4/30", "Key.tunnel_1B"),
            ),
        ),
    )


def hub_router() -> RouterIntent:
    """hub-r1: one connection to each spoke's VPN gateway."""
    return RouterIntent(
        name="hub-r1",
        site=HUB,
        private_ip="10.0.0.11",
        vpc_router_ip="10.0.0.1",
        local_asn=65000,
        connections=(
            connection(
                "vpn-0b1",
                SPOKE1,
                option("203.0.113.1", "169.254.20.0/30", "Key.hub_s1_A"),
                option("203.0.113.2", "169.254.20.4/30", "Key.hub_s1_B"),
            ),
            connection(
                "vpn-0b2",
                SPOKE2,
                option("203.0.113.3", "169.254.20.8/30", "Key.hub_s2_A"),
                option("203.0.113.4", "169.254.20.12/30", "Key.hub_s2_B"),
            ),
        ),
    )
