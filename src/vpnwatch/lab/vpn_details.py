"""What AWS fills in for a new VPN connection and moto does not: distinct tunnel outside IPs,
inside /30s, pre-shared keys, the TunnelOptions DescribeVpnConnections reports (moto drops
them) and the CustomerGatewayConfiguration XML that matches them.

Outside IPs come from the documentation ranges (RFC 5737): they are data, never dialled.
"""

from __future__ import annotations

import ipaddress
import secrets
import string
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

from vpnwatch.lab.safety import LabError
from vpnwatch.lab.tunnel_options import PSK_PATTERN, TunnelCrypto

OUTSIDE_RANGES = ("198.51.100.0/24", "203.0.113.0/24", "192.0.2.0/24")
INSIDE_RANGE = "169.254.0.0/16"
# AWS refuses these inside CIDRs (CreateVpnConnection, TunnelInsideCidr).
RESERVED_INSIDE = frozenset([f"169.254.{n}.0/30" for n in range(6)] + ["169.254.169.252/30"])
FIRST_INSIDE = "169.254.10.0/30"
TUNNELS_PER_CONNECTION = 2
_PSK = PSK_PATTERN
_AWS_DEFAULTS = TunnelCrypto()
_PSK_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True)
class TunnelPlan:
    """One tunnel as AWS set it up. `aws_inside_ip` is the BGP neighbor of the router."""

    outside_ip: str
    inside_cidr: str
    psk: str = field(repr=False)
    crypto: TunnelCrypto = _AWS_DEFAULTS  # options set on the tunnel (none: AWS's defaults)

    @property
    def aws_inside_ip(self) -> str:
        return str(ipaddress.ip_network(self.inside_cidr)[1])

    @property
    def router_inside_ip(self) -> str:
        return str(ipaddress.ip_network(self.inside_cidr)[2])


@dataclass(frozen=True)
class RequestedTunnel:
    """What a CreateVpnConnection call asked for one tunnel (None → AWS picks)."""

    inside_cidr: str | None = None
    psk: str | None = field(default=None, repr=False)


def new_psk() -> str:
    """32 random characters AWS accepts (alphanumerics; must not start with 0)."""
    first = secrets.choice(_PSK_ALPHABET.replace("0", ""))
    return first + "".join(secrets.choice(_PSK_ALPHABET) for _ in range(31))


def check_inside_cidr(cidr: str) -> str:
    """The canonical /30 inside 169.254.0.0/16 that AWS would accept, else LabError."""
    try:
        net = ipaddress.ip_network(cidr, strict=True)
    except ValueError:
        raise LabError(f"TunnelInsideCidr {cidr!r} is not a network address") from None
    if (
        net.version != 4
        or net.prefixlen != 30
        or not net.subnet_of(ipaddress.IPv4Network(INSIDE_RANGE))
    ):
        raise LabError(f"TunnelInsideCidr {cidr!r} must be a /30 in {INSIDE_RANGE}")
    if str(net) in RESERVED_INSIDE:
        raise LabError(f"TunnelInsideCidr {cidr!r} is reserved by AWS")
    return str(net)


def requested_tunnels(params: Mapping[str, str]) -> tuple[RequestedTunnel, ...]:
    """Options.TunnelOptions.N.{TunnelInsideCidr,PreSharedKey} of a CreateVpnConnection."""
    found: list[RequestedTunnel] = []
    for n in (1, 2):
        prefix = f"Options.TunnelOptions.{n}."
        cidr = params.get(prefix + "TunnelInsideCidr")
        psk = params.get(prefix + "PreSharedKey")
        if psk is not None and not _PSK.match(psk):
            raise LabError(
                f"PreSharedKey of tunnel {n} must be 8-64 letters, digits, '.' or '_' "
                "and must not start with 0"
            )
        found.append(RequestedTunnel(check_inside_cidr(cidr) if cidr else None, psk))
    return tuple(found)


def _hosts(ranges: tuple[str, ...]) -> Iterator[str]:
    for cidr in ranges:
        for host in ipaddress.ip_network(cidr).hosts():
            yield str(host)


def _inside_nets() -> Iterator[str]:
    start = ipaddress.IPv4Network(FIRST_INSIDE)
    for net in ipaddress.IPv4Network(INSIDE_RANGE).subnets(new_prefix=30):
        if net >= start and str(net) not in RESERVED_INSIDE:
            yield str(net)


class AddressPool:
    """Hands out outside IPs and inside /30s that no other tunnel uses. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._outside = _hosts(OUTSIDE_RANGES)
        self._used_inside: set[str] = set()
        self._inside = _inside_nets()

    def plan(self, requested: tuple[RequestedTunnel, ...] = ()) -> tuple[TunnelPlan, ...]:
        """Two tunnels, honouring requested inside CIDRs and keys."""
        wanted = list(requested) + [RequestedTunnel()] * (TUNNELS_PER_CONNECTION - len(requested))
        with self._lock:
            asked = [w.inside_cidr for w in wanted if w.inside_cidr]
            clash = [c for c in asked if c in self._used_inside or asked.count(c) > 1]
            if clash:
                raise LabError(f"TunnelInsideCidr {clash[0]} is already used by another tunnel")
            plans = []
            for want in wanted[:TUNNELS_PER_CONNECTION]:
                outside = next(self._outside, None)
                if outside is None:
                    raise LabError("the lab ran out of tunnel outside addresses")
                cidr = want.inside_cidr or self._next_inside()
                self._used_inside.add(cidr)
                plans.append(TunnelPlan(outside, cidr, want.psk or new_psk()))
            return tuple(plans)

    def check(self, requested: tuple[RequestedTunnel, ...]) -> None:
        """LabError if a requested inside CIDR is already taken (before moto creates it)."""
        with self._lock:
            for want in requested:
                if want.inside_cidr and want.inside_cidr in self._used_inside:
                    raise LabError(
                        f"TunnelInsideCidr {want.inside_cidr} is already used by another tunnel"
                    )

    def swap_inside(self, old: str, new: str) -> None:
        """A tunnel moves from inside CIDR `old` to `new` (LabError if `new` is taken)."""
        with self._lock:
            if new in self._used_inside:
                raise LabError(f"TunnelInsideCidr {new} is already used by another tunnel")
            self._used_inside.discard(old)
            self._used_inside.add(new)

    def _next_inside(self) -> str:
        for cidr in self._inside:
            if cidr not in self._used_inside:
                return cidr
        raise LabError("the lab ran out of tunnel inside CIDRs")


def options_of(tunnels: tuple[TunnelPlan, ...], static_routes_only: bool) -> dict[str, Any]:
    """The `Options` member of a VpnConnection (DescribeVpnConnections)."""
    return {
        "EnableAcceleration": False,
        "StaticRoutesOnly": static_routes_only,
        "LocalIpv4NetworkCidr": "0.0.0.0/0",
        "RemoteIpv4NetworkCidr": "0.0.0.0/0",
        "OutsideIpAddressType": "PublicIpv4",
        "TunnelInsideIpVersion": "ipv4",
        "TunnelOptions": [
            {
                "OutsideIpAddress": t.outside_ip,
                "TunnelInsideCidr": t.inside_cidr,
                "PreSharedKey": t.psk,
                "DpdTimeoutAction": "clear",
                "StartupAction": "add",
                "LogOptions": {"CloudWatchLogOptions": {"LogEnabled": False}},
                **t.crypto.reported(),
            }
            for t in tunnels
        ],
    }


@dataclass(frozen=True)
class ConnectionFacts:
    """Everything the CustomerGatewayConfiguration of one connection mentions."""

    vpn_connection_id: str
    customer_gateway_id: str
    vpn_gateway_id: str
    connection_type: str
    customer_gateway_ip: str
    customer_gateway_asn: str
    vpn_gateway_asn: str
    tunnels: tuple[TunnelPlan, ...]


def _endpoint(outside_ip: str, inside_ip: str, asn: str) -> str:
    return f"""\
      <tunnel_outside_address>
        <ip_address>{escape(outside_ip)}</ip_address>
      </tunnel_outside_address>
      <tunnel_inside_address>
        <ip_address>{inside_ip}</ip_address>
        <network_mask>255.255.255.252</network_mask>
        <network_cidr>30</network_cidr>
      </tunnel_inside_address>
      <bgp>
        <asn>{escape(asn)}</asn>
        <hold_time>30</hold_time>
      </bgp>
"""


def _tunnel_xml(facts: ConnectionFacts, tunnel: TunnelPlan) -> str:
    x = tunnel.crypto.xml()
    mode = f"      <mode>{x['ike_mode']}</mode>\n" if x["ike_mode"] else ""
    return f"""\
  <ipsec_tunnel>
    <customer_gateway>
{_endpoint(facts.customer_gateway_ip, tunnel.router_inside_ip, facts.customer_gateway_asn)}\
    </customer_gateway>
    <vpn_gateway>
{_endpoint(tunnel.outside_ip, tunnel.aws_inside_ip, facts.vpn_gateway_asn)}\
    </vpn_gateway>
    <ike>
      <authentication_protocol>{x["ike_integrity"]}</authentication_protocol>
      <encryption_protocol>{x["ike_encryption"]}</encryption_protocol>
      <lifetime>{x["ike_lifetime"]}</lifetime>
      <perfect_forward_secrecy>{x["ike_group"]}</perfect_forward_secrecy>
{mode}      <pre_shared_key>{escape(tunnel.psk)}</pre_shared_key>
    </ike>
    <ipsec>
      <protocol>esp</protocol>
      <authentication_protocol>{x["esp_integrity"]}</authentication_protocol>
      <encryption_protocol>{x["esp_encryption"]}</encryption_protocol>
      <lifetime>{x["esp_lifetime"]}</lifetime>
      <perfect_forward_secrecy>{x["esp_group"]}</perfect_forward_secrecy>
      <mode>tunnel</mode>
      <clear_df_bit>true</clear_df_bit>
      <fragmentation_before_encryption>true</fragmentation_before_encryption>
      <tcp_mss_adjustment>1379</tcp_mss_adjustment>
      <dead_peer_detection>
        <interval>10</interval>
        <retries>{x["dpd_retries"]}</retries>
      </dead_peer_detection>
    </ipsec>
  </ipsec_tunnel>
"""


def customer_gateway_configuration(facts: ConnectionFacts) -> str:
    """The XML document AWS returns as CustomerGatewayConfiguration (generic device format)."""
    tunnels = "".join(_tunnel_xml(facts, t) for t in facts.tunnels)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<vpn_connection id="{escape(facts.vpn_connection_id)}">\n'
        f"  <customer_gateway_id>{escape(facts.customer_gateway_id)}</customer_gateway_id>\n"
        f"  <vpn_gateway_id>{escape(facts.vpn_gateway_id)}</vpn_gateway_id>\n"
        f"  <vpn_connection_type>{escape(facts.connection_type)}</vpn_connection_type>\n"
        f"{tunnels}</vpn_connection>\n"
    )
