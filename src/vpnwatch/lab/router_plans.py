"""What each simulated router of the world is, derived from the topology built in the
emulated AWS: its site and role, private IP, VyOS version and the AWS tunnels it terminates
(PSKs, inside CIDRs, the VPN gateway's ASN, the prefixes AWS advertises on each session)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from vpnwatch.lab.safety import LabError
from vpnwatch.lab.topology import ROUTER_BGP_ASN, SiteSpec, Topology
from vpnwatch.lab.vyos_sim import VERSIONS, Role, TunnelSpec, Version

MIXED = "mixed"
VersionChoice = str | Mapping[str, str]  # "1.4", "mixed", or router name → version


@dataclass(frozen=True)
class RouterPlan:
    name: str
    site: str
    role: Role
    vpc_cidr: str
    subnet_id: str
    private_ip: str
    version: Version
    tunnels: tuple[TunnelSpec, ...]
    local_as: int = ROUTER_BGP_ASN


def _version(choice: str) -> Version:
    for known in VERSIONS:
        if choice == known:
            return known
    raise LabError(f"unsupported VyOS version {choice!r}: use one of {', '.join(VERSIONS)}")


def versions_for(names: list[str], choice: VersionChoice) -> dict[str, Version]:
    """Each router's VyOS version: one for all, `mixed` (newest first, round robin) or a map
    (routers it does not name get 1.4)."""
    if isinstance(choice, str):
        if choice == MIXED:
            newest_first = tuple(reversed(VERSIONS))
            return {n: newest_first[i % len(newest_first)] for i, n in enumerate(names)}
        version = _version(choice)
        return dict.fromkeys(names, version)
    unknown = sorted(set(choice) - set(names))
    if unknown:
        raise LabError(f"router_version names unknown routers: {', '.join(unknown)}")
    return {n: _version(choice.get(n, "1.4")) for n in names}


def plan_routers(
    topology: Topology, sites: tuple[SiteSpec, ...], versions: VersionChoice = "1.4"
) -> tuple[RouterPlan, ...]:
    specs = {s.name: s for s in sites}
    chosen = versions_for([r.name for r in topology.routers], versions)
    plans = []
    for router in topology.routers:
        site = topology.site(router.site)
        tunnels = tuple(
            TunnelSpec(
                outside_ip=t.outside_ip,
                inside_cidr=t.inside_cidr,
                aws_inside_ip=t.aws_inside_ip,
                router_inside_ip=t.router_inside_ip,
                psk=t.psk,
                remote_as=specs[conn.gateway_site].amazon_side_asn,
                prefixes=(topology.site(conn.gateway_site).cidr,),
            )
            for conn in topology.connections_of(router.name)
            for t in conn.tunnels
        )
        plans.append(
            RouterPlan(
                name=router.name,
                site=router.site,
                role="hub" if router.role == "hub" else "spoke",
                vpc_cidr=site.cidr,
                subnet_id=site.subnet_id,
                private_ip=router.private_ip,
                version=chosen[router.name],
                tunnels=tunnels,
            )
        )
    return tuple(plans)


def router_of_connection(topology: Topology) -> dict[str, str]:
    """VPN connection id → the router that is its customer gateway."""
    return {c.id: c.router for c in topology.connections}
