"""What `vpnwatch render` works from and produces (frozen, no I/O).

AWS's side of every tunnel (`ConnectionParams`, from TunnelOptions or the
CustomerGatewayConfiguration XML) plus the site config's intent (`RouterIntent`) go in;
canonical VyOS `set` commands for one version come out (`RenderedRouter`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from vpnwatch.errors import ConfigError, ParseError

VyosVersion = Literal["1.3", "1.4", "1.5"]
VYOS_VERSIONS: tuple[VyosVersion, ...] = ("1.3", "1.4", "1.5")
Role = Literal["hub", "spoke"]


class RenderInputError(ParseError):
    """AWS's description of a connection cannot be rendered (malformed XML, no tunnel
    options, an unknown algorithm). Nothing is printed for any router."""


class RenderConfigError(ConfigError):
    """The config lacks what rendering needs (a site's vpn section, a known router)."""


def check_version(text: str) -> VyosVersion:
    for known in VYOS_VERSIONS:
        if text == known:
            return known
    raise ValueError(f"VyOS {text!r} is not rendered: use one of {', '.join(VYOS_VERSIONS)}")


@dataclass(frozen=True)
class Phase1:
    """The IKE proposal and timers of one tunnel, in VyOS keywords."""

    encryption: str  # aes128 | aes256 | aes128gcm128 | aes256gcm128
    integrity: str  # sha1 | sha256 | sha384 | sha512
    dh_group: int
    lifetime: int
    dpd_timeout: int
    ike_version: str | None  # "ikev1" / "ikev2" when AWS permits only that one


@dataclass(frozen=True)
class Phase2:
    """The ESP proposal of one tunnel (PFS with `dh_group`, as AWS always uses)."""

    encryption: str
    integrity: str
    dh_group: int
    lifetime: int


@dataclass(frozen=True)
class TunnelParams:
    """AWS's side of one tunnel: where it is, its inside /30, key and proposals."""

    outside_ip: str  # the AWS endpoint (the IPsec peer)
    inside_cidr: str  # 169.254.x.y/30
    aws_inside_ip: str  # the BGP neighbour
    router_inside_ip: str  # the router's VTI address
    psk: str = field(repr=False)
    phase1: Phase1
    phase2: Phase2


@dataclass(frozen=True)
class ConnectionParams:
    """One VPN connection as AWS describes it; tunnels sorted by outside IP."""

    vpn_connection_id: str
    aws_asn: int
    customer_asn: int | None  # the customer gateway's BGP ASN, when AWS said
    bgp_holdtime: int
    tunnels: tuple[TunnelParams, ...]


@dataclass(frozen=True)
class SiteIntent:
    """A site's routing intent from the config (`sites[].vpn`)."""

    name: str
    role: Role
    vpc_cidr: str  # static route to the VPC router; a spoke advertises it
    advertise: str  # what the site's routers advertise: the hub's aggregate, a spoke's VPC


@dataclass(frozen=True)
class ConnectionIntent:
    """One connection of a router, with the site whose VPN gateway is at the far end."""

    params: ConnectionParams
    far_site: str
    accept: tuple[str, ...]  # prefixes the import policy lets in (the far VPC)


@dataclass(frozen=True)
class RouterIntent:
    name: str
    site: SiteIntent
    private_ip: str  # eth0: the IPsec local address (never the EIP: VyOS does not own it)
    vpc_router_ip: str  # the subnet's .1, next hop of the VPC static routes
    local_asn: int
    connections: tuple[ConnectionIntent, ...]


@dataclass(frozen=True)
class RenderedRouter:
    """Canonical `set` commands (as `show configuration commands` prints them)."""

    name: str
    version: VyosVersion
    commands: tuple[str, ...] = field(repr=False)
