"""The tunnels of the configuration AWS generates for a "Vyatta" customer gateway.

The download is `set` commands with `!` comment lines, one section per tunnel (IKE/IPsec peer,
VTI interface, BGP neighbor). Both the VyOS ≤ 1.3 spellings AWS uses (`authentication
pre-shared-secret`, `protocols bgp <asn> neighbor`) and the VyOS ≥ 1.4 ones
(`authentication psk <name> secret`, `protocols bgp system-as`, `peer <name> remote-address`)
are read. A tunnel's BGP neighbor is the neighbor inside its VTI /30.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from vpnwatch.errors import ParseError
from vpnwatch.parsers._boot import Statement
from vpnwatch.parsers._util import check_size, is_digits
from vpnwatch.parsers.vyos_config import config_statements

# AWS generates one file per VPN connection: two tunnels, a few KiB.
MAX_AWS_CONFIG_CHARS = 256 * 1024
_MAX_PEERS = 64

_PEER = ("vpn", "ipsec", "site-to-site", "peer")
_PSK = ("vpn", "ipsec", "authentication", "psk")


@dataclass(frozen=True)
class AwsVyattaTunnel:
    peer: str  # AWS outside address
    psk: str | None = field(repr=False)  # secret: never in repr/logs
    local_address: str | None
    vti: str | None
    vti_address: str | None  # router inside address with prefix, e.g. 169.254.233.170/30
    bgp_neighbor: str | None  # AWS inside address
    neighbor_as: int | None
    local_as: int | None


@dataclass(frozen=True)
class AwsVyattaConfig:
    local_as: int | None
    tunnels: tuple[AwsVyattaTunnel, ...]


@dataclass
class _Peer:
    address: str
    psk: str | None = None
    local_address: str | None = None
    vti: str | None = None


def parse_aws_vyatta_config(text: str) -> AwsVyattaConfig:
    """Tunnels (in the order the config gives them) of an AWS "Vyatta" configuration."""
    check_size(text, MAX_AWS_CONFIG_CHARS, "an AWS Vyatta configuration")
    _, statements = config_statements(text)
    peers = _peers(statements)
    if not peers:
        raise ParseError("no 'vpn ipsec site-to-site peer' in the configuration")
    if len(peers) > _MAX_PEERS:
        raise ParseError(f"more than {_MAX_PEERS} peers: not an AWS VPN connection's config")
    vti_addresses: dict[str, str] = {}
    neighbors: dict[str, int | None] = {}
    local_as: int | None = None
    for path, value in statements:
        if path[:2] == ("interfaces", "vti") and path[3:] == ("address",) and value:
            vti_addresses.setdefault(path[2], value)
        elif path[:2] == ("protocols", "bgp"):
            asn, rest = _bgp_split(path[2:])
            if asn is not None and local_as is None:
                local_as = asn
            if rest == ("system-as",) and value and is_digits(value) and local_as is None:
                local_as = int(value)
            if len(rest) == 3 and rest[0] == "neighbor" and rest[2] == "remote-as":
                neighbors[rest[1]] = int(value) if value and is_digits(value) else None
    tunnels = []
    for peer in peers:
        vti_address = vti_addresses.get(peer.vti) if peer.vti else None
        neighbor = _neighbor_in(vti_address, neighbors)
        tunnels.append(
            AwsVyattaTunnel(
                peer=peer.address,
                psk=peer.psk,
                local_address=peer.local_address,
                vti=peer.vti,
                vti_address=vti_address,
                bgp_neighbor=neighbor,
                neighbor_as=neighbors.get(neighbor) if neighbor else None,
                local_as=local_as,
            )
        )
    return AwsVyattaConfig(local_as=local_as, tunnels=tuple(tunnels))


def _bgp_split(rest: tuple[str, ...]) -> tuple[int | None, tuple[str, ...]]:
    """`protocols bgp 65000 neighbor ...` (≤ 1.3) vs `protocols bgp neighbor ...` (≥ 1.4)."""
    if rest and is_digits(rest[0]):
        return int(rest[0]), rest[1:]
    return None, rest


def _peers(statements: list[Statement]) -> list[_Peer]:
    by_name: dict[str, _Peer] = {}
    psk_of_id: dict[str, str] = {}  # peer id → the first psk entry naming it
    psk_secrets: dict[str, str] = {}
    for path, value in statements:
        if path[:4] == _PEER and len(path) > 4:
            peer = by_name.setdefault(path[4], _Peer(address=path[4]))
            leaf = path[5:]
            if leaf == ("authentication", "pre-shared-secret"):
                peer.psk = value
            elif leaf == ("local-address",):
                peer.local_address = value
            elif leaf == ("remote-address",) and value:
                peer.address = value
            elif leaf == ("vti", "bind"):
                peer.vti = value
        elif path[:4] == _PSK and len(path) == 6 and value is not None:
            if path[5] == "id":
                psk_of_id.setdefault(value, path[4])
            elif path[5] == "secret":
                psk_secrets[path[4]] = value
    for peer in by_name.values():
        if peer.psk is None and peer.address in psk_of_id:
            peer.psk = psk_secrets.get(psk_of_id[peer.address])
    return list(by_name.values())


def _neighbor_in(vti_address: str | None, neighbors: dict[str, int | None]) -> str | None:
    if vti_address is None:
        return None
    try:
        interface = ipaddress.ip_interface(vti_address)
    except ValueError:
        return None
    for neighbor in neighbors:
        try:
            address = ipaddress.ip_address(neighbor)
        except ValueError:
            continue
        if address in interface.network and address != interface.ip:
            return neighbor
    return None
