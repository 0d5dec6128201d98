"""The article's VyOS configuration of one router, in the syntax of VyOS 1.3, 1.4 or 1.5.

What the article configures by hand, filled in from AWS and the site config:
IKE/ESP groups, one VTI per tunnel (inside address, MTU 1436), one site-to-site peer per
tunnel (local address = eth0's private IP), BGP (two AWS neighbours per connection, hold
time 30 / keepalive 10, soft-reconfiguration inbound), the VPC static route and network
statement, and the IN/OUT prefix-lists and route-maps (a hub advertises its aggregate, a
spoke its VPC; each imports the VPC at the far end of the connection).

Version differences (sources in docs/render.md):
- 1.3: `vpn ipsec ipsec-interfaces interface`, peers named by their address with
  `authentication pre-shared-secret`, `esp-group compression` takes a value,
  `protocols bgp <asn> ...`.
- 1.4 and 1.5: `vpn ipsec interface`, named peers with `remote-address` (the name may not
  contain dots), keys under `vpn ipsec authentication psk <name> id/secret`, `compression`
  is a valueless switch (left out), `protocols bgp system-as` and `protocols bgp ...`,
  `vpn ipsec options disable-route-autoinstall` (VyOS warns without it on VTI peers).
Output is canonical: sorted as `show configuration commands` prints it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import TypeVar

from vpnwatch.parsers.vyos_config import Statement, canonical_commands
from vpnwatch.render.model import (
    Phase1,
    Phase2,
    RenderedRouter,
    RouterIntent,
    TunnelParams,
    VyosVersion,
)

IPSEC_INTERFACE = "eth0"
VTI_MTU = 1436  # AWS's Vyatta sample and the article
DPD_INTERVAL = 15  # AWS's Vyatta sample and the article
VPC_DISTANCE = 10
AGGREGATE_DISTANCE = 100
_AF = ("address-family", "ipv4-unicast")
T = TypeVar("T")


def _named(items: list[T], base: str) -> dict[T, str]:
    """One name per distinct item, in first-seen order: `AWS` alone, else `AWS-1`, ..."""
    distinct = list(dict.fromkeys(items))
    if len(distinct) == 1:
        return {distinct[0]: base}
    return {item: f"{base}-{n}" for n, item in enumerate(distinct, start=1)}


def _pfs(phase1: Phase1, phase2: Phase2) -> str:
    return "enable" if phase2.dh_group == phase1.dh_group else f"dh-group{phase2.dh_group}"


def _ike_group(name: str, p: Phase1) -> Iterator[Statement]:
    base = ("vpn", "ipsec", "ike-group", name)
    yield (*base, "lifetime"), str(p.lifetime)
    yield (*base, "proposal", "1", "dh-group"), str(p.dh_group)
    yield (*base, "proposal", "1", "encryption"), p.encryption
    yield (*base, "proposal", "1", "hash"), p.integrity
    yield (*base, "dead-peer-detection", "action"), "restart"
    yield (*base, "dead-peer-detection", "interval"), str(DPD_INTERVAL)
    yield (*base, "dead-peer-detection", "timeout"), str(p.dpd_timeout)
    if p.ike_version is not None:
        yield (*base, "key-exchange"), p.ike_version


def _esp_group(name: str, p: Phase2, pfs: str, version: VyosVersion) -> Iterator[Statement]:
    base = ("vpn", "ipsec", "esp-group", name)
    yield (*base, "lifetime"), str(p.lifetime)
    yield (*base, "mode"), "tunnel"
    yield (*base, "pfs"), pfs
    yield (*base, "proposal", "1", "encryption"), p.encryption
    yield (*base, "proposal", "1", "hash"), p.integrity
    if version == "1.3":
        yield (*base, "compression"), "disable"


def peer_name(vpn_connection_id: str, index: int) -> str:
    """A 1.4+ peer name: the connection and the tunnel's place in it (`vpn-0abc-1`)."""
    return f"{vpn_connection_id}-{index}"


def _tunnel(
    version: VyosVersion,
    router: RouterIntent,
    vti: str,
    peer: str,
    tunnel: TunnelParams,
    description: str,
    groups: tuple[str, str],
) -> Iterator[Statement]:
    length = ipaddress.IPv4Network(tunnel.inside_cidr).prefixlen
    yield ("interfaces", "vti", vti, "address"), f"{tunnel.router_inside_ip}/{length}"
    yield ("interfaces", "vti", vti, "description"), description
    yield ("interfaces", "vti", vti, "mtu"), str(VTI_MTU)
    base = ("vpn", "ipsec", "site-to-site", "peer", peer)
    yield (*base, "authentication", "mode"), "pre-shared-secret"
    if version == "1.3":
        yield (*base, "authentication", "pre-shared-secret"), tunnel.psk
    else:
        yield (*base, "remote-address"), tunnel.outside_ip
        yield ("vpn", "ipsec", "authentication", "psk", peer, "id"), tunnel.outside_ip
        yield ("vpn", "ipsec", "authentication", "psk", peer, "secret"), tunnel.psk
    yield (*base, "description"), description
    yield (*base, "ike-group"), groups[0]
    yield (*base, "local-address"), router.private_ip
    yield (*base, "vti", "bind"), vti
    yield (*base, "vti", "esp-group"), groups[1]


def _neighbor(
    bgp: tuple[str, ...], tunnel: TunnelParams, aws_asn: int, holdtime: int, import_map: str
) -> Iterator[Statement]:
    base = (*bgp, "neighbor", tunnel.aws_inside_ip)
    yield (*base, "remote-as"), str(aws_asn)
    yield (*base, *_AF, "soft-reconfiguration", "inbound"), None
    yield (*base, *_AF, "route-map", "export"), "OUT"
    yield (*base, *_AF, "route-map", "import"), import_map
    yield (*base, "timers", "holdtime"), str(holdtime)
    yield (*base, "timers", "keepalive"), str(max(1, holdtime // 3))


def _policy(name: str, prefixes: tuple[str, ...]) -> Iterator[Statement]:
    for n, prefix in enumerate(prefixes, start=1):
        yield ("policy", "prefix-list", name, "rule", str(10 * n), "action"), "permit"
        yield ("policy", "prefix-list", name, "rule", str(10 * n), "prefix"), prefix
    rmap = ("policy", "route-map", name, "rule")
    yield (*rmap, "10", "action"), "permit"
    yield (*rmap, "10", "match", "ip", "address", "prefix-list"), name
    yield (*rmap, "20", "action"), "deny"


def _statements(router: RouterIntent, version: VyosVersion) -> Iterator[Statement]:
    tunnels = [(c, t) for c in router.connections for t in c.params.tunnels]
    ike = _named([t.phase1 for _, t in tunnels], "AWS")
    esp = _named([(t.phase2, _pfs(t.phase1, t.phase2)) for _, t in tunnels], "AWS")
    for phase1, name in ike.items():
        yield from _ike_group(name, phase1)
    for (phase2, pfs), name in esp.items():
        yield from _esp_group(name, phase2, pfs, version)
    if version == "1.3":
        yield ("vpn", "ipsec", "ipsec-interfaces", "interface"), IPSEC_INTERFACE
        bgp: tuple[str, ...] = ("protocols", "bgp", str(router.local_asn))
    else:
        yield ("vpn", "ipsec", "interface"), IPSEC_INTERFACE
        yield ("vpn", "ipsec", "options", "disable-route-autoinstall"), None
        bgp = ("protocols", "bgp")
        yield (*bgp, "system-as"), str(router.local_asn)
    # the article: a spoke imports `IN`; a hub one `IN1`, `IN2`, ... per spoke
    far_sites = list(dict.fromkeys(c.far_site for c in router.connections))
    in_names = {site: f"IN{n}" for n, site in enumerate(far_sites, start=1)}
    if len(far_sites) == 1:
        in_names = {far_sites[0]: "IN"}
    index = 0
    for connection in router.connections:
        vpn_id = connection.params.vpn_connection_id
        for k, tunnel in enumerate(connection.params.tunnels, start=1):
            vti = f"vti{index}"
            peer = tunnel.outside_ip if version == "1.3" else peer_name(vpn_id, k)
            groups = (
                ike[tunnel.phase1],
                esp[(tunnel.phase2, _pfs(tunnel.phase1, tunnel.phase2))],
            )
            description = f"{connection.far_site} {vpn_id} tunnel {k}"
            yield from _tunnel(version, router, vti, peer, tunnel, description, groups)
            yield from _neighbor(
                bgp,
                tunnel,
                connection.params.aws_asn,
                connection.params.bgp_holdtime,
                in_names[connection.far_site],
            )
            index += 1
    site = router.site
    static = ("protocols", "static", "route")
    yield (*static, site.vpc_cidr, "next-hop", router.vpc_router_ip, "distance"), str(VPC_DISTANCE)
    if site.advertise != site.vpc_cidr:  # the hub's aggregate needs a route to originate
        yield (
            (*static, site.advertise, "next-hop", router.vpc_router_ip, "distance"),
            str(AGGREGATE_DISTANCE),
        )
    yield (*bgp, *_AF, "network", site.advertise), None
    yield from _policy("OUT", (site.advertise,))
    for far in far_sites:
        accept = next(c.accept for c in router.connections if c.far_site == far)
        yield from _policy(in_names[far], accept)


def render_router(router: RouterIntent, version: VyosVersion) -> RenderedRouter:
    """The router's configuration (everything the article sets up, nothing else)."""
    return RenderedRouter(
        router.name, version, canonical_commands(list(_statements(router, version)))
    )
