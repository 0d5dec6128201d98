"""The configuration schema of the simulated VyOS: which paths exist and what values fit.

Each version's schema is written as path patterns, one per line:
  `word`      a fixed node name
  `<type>`    the value of the tag node named just before it (`neighbor <ipv4>`)
  `=type`     the value of the leaf named just before it; `=type+` a multi-value leaf
  a pattern ending in a fixed word makes that word a valueless leaf (`... inbound`).
Only what the article's world and a default AMI use is modelled; anything else is an
invalid path, as it would be on a router without that feature. Sources per version (the
vyatta-cfg-vpn / vyatta-cfg-quagga templates for 1.3, vyos-1x interface-definitions for 1.4
and 1.5) are listed in docs/render.md.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from functools import cache

from vpnwatch.lab.vyos_sim.formats import Version, since_1_4

Validator = Callable[[str], str | None]  # value → why it is invalid, or None


class Kind(Enum):
    NODE = "node"  # plain node with named children
    TAG = "tag"  # tag node: children keyed by a typed value
    LEAF = "leaf"  # one value
    MULTI = "multi"  # several values, kept in insertion order
    FLAG = "flag"  # valueless leaf


@dataclass
class SchemaNode:
    name: str
    kind: Kind
    value_type: str | None = None
    children: dict[str, SchemaNode] = field(default_factory=dict)


def _ipv4(value: str) -> str | None:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return f'"{value}" is not a valid IPv4 address'
    return None


def _ipv4_net(value: str) -> str | None:
    try:
        ipaddress.IPv4Network(value, strict=True)
    except ValueError:
        return f'"{value}" is not a valid IPv4 prefix'
    return None if "/" in value else f'"{value}" is not a valid IPv4 prefix'


def _ipv4_host(value: str) -> str | None:
    if "/" not in value:
        return f'"{value}" is not a valid IPv4 address with prefix length'
    try:
        iface = ipaddress.IPv4Interface(value)
    except ValueError:
        return f'"{value}" is not a valid IPv4 address with prefix length'
    if iface.network.prefixlen < 31 and iface.ip in (
        iface.network.network_address,
        iface.network.broadcast_address,
    ):
        return f'"{value}" is a network or broadcast address'
    return None


def _asn(value: str) -> str | None:
    if value.isdigit() and 1 <= int(value) <= 4294967294:
        return None
    return f'"{value}" is not a valid AS number (1-4294967294)'


def _range(low: int, high: int) -> Validator:
    def check(value: str) -> str | None:
        if value.isdigit() and low <= int(value) <= high:
            return None
        return f'"{value}" must be a number between {low} and {high}'

    return check


def _pattern(regex: str, what: str) -> Validator:
    compiled = re.compile(regex)

    def check(value: str) -> str | None:
        return None if compiled.fullmatch(value) else f'"{value}" is not a valid {what}'

    return check


def _one_of(*choices: str) -> Validator:
    def check(value: str) -> str | None:
        return None if value in choices else f'"{value}" must be one of: {", ".join(choices)}'

    return check


def _any_of(*checks: Validator) -> Validator:
    def check(value: str) -> str | None:
        reasons = [c(value) for c in checks]
        return None if None in reasons else reasons[0]

    return check


def _text(value: str) -> str | None:
    if not value or "\n" in value or len(value) > 255:
        return "value must be 1-255 printable characters"
    return None


_PEER_1_4 = re.compile(r"[-_a-zA-Z0-9|@]+")


def _peer_name_1_4(value: str) -> str | None:
    if _PEER_1_4.fullmatch(value):
        return None
    return "Peer connection name must be alphanumeric and can contain hyphen and underscores"


_NAME = _pattern(r"[A-Za-z0-9][-_A-Za-z0-9.]{0,63}", "name")
_HOST = _pattern(r"[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?", "host name")
_FQDN = _pattern(r"[A-Za-z0-9]([-.A-Za-z0-9]{0,251}[A-Za-z0-9])?", "host name")

VALIDATORS: dict[str, Validator] = {
    "ipv4": _ipv4,
    "ipv4net": _ipv4_net,
    "ipv4host": _ipv4_host,
    "addr_or_dhcp": _any_of(_ipv4_host, _one_of("dhcp", "dhcpv6")),
    "local_address": _any_of(_ipv4, _one_of("any")),
    "peer_address": _any_of(_ipv4, _one_of("any")),
    "s2s_peer": _any_of(_ipv4, _FQDN),
    "asn": _asn,
    "remote_as": _any_of(_asn, _one_of("external", "internal")),
    "u8": _range(0, 255),
    "u16": _range(1, 65535),
    "u32": _range(0, 4294967295),
    "prefix_len": _range(0, 32),
    "distance": _range(1, 255),
    "holdtime": _any_of(_one_of("0"), _range(4, 65535)),
    "keepalive": _range(1, 65535),
    "mtu": _range(68, 16000),
    "ike_life": _range(30, 86400),
    "esp_life": _range(30, 86400),
    "dpd_time": _range(2, 86400),
    "port": _range(1, 65535),
    "rule": _range(1, 65535),
    "proposal": _range(1, 65535),
    "text": _text,
    "name": _NAME,
    "host": _HOST,
    "fqdn": _FQDN,
    "eth": _pattern(r"eth\d{1,4}", "ethernet interface name (ethN)"),
    "vti": _pattern(r"vti\d{1,4}", "VTI interface name (vtiN)"),
    "lo": _one_of("lo"),
    "mac": _pattern(r"[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}", "MAC address"),
    "action": _one_of("permit", "deny"),
    "auth_mode": _one_of("pre-shared-secret", "x509", "rsa"),
    "dh_group": _one_of(*(str(n) for n in (1, 2, 5, *range(14, 33)))),
    "encryption": _one_of("aes128", "aes256", "3des", "aes128gcm128", "aes256gcm128"),
    "hash": _one_of("md5", "sha1", "sha256", "sha384", "sha512"),
    "dpd_action": _one_of("hold", "clear", "restart"),
    # 1.4 renamed `hold` to `trap` (vyos-1x sagitta vpn_ipsec.xml.in).
    "dpd_action14": _one_of("trap", "clear", "restart"),
    "ike_life14": _range(0, 86400),
    # 1.4 peer names: interface-definitions regex, and no dots (T4118).
    "peer14": _peer_name_1_4,
    "esp_mode": _one_of("tunnel", "transport"),
    "enable_disable": _one_of("enable", "disable"),
    "pfs": _one_of("enable", "disable", "dh-group2", "dh-group5", "dh-group14", "dh-group19"),
    "key_exchange": _one_of("ikev1", "ikev2"),
    "conn_type": _one_of("initiate", "respond", "none"),
    "level": _one_of("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"),
    "user_level": _one_of("admin", "operator"),
    "key_type": _one_of("ssh-rsa", "ssh-ed25519", "ecdsa-sha2-nistp256"),
    "speed": _one_of("auto", "10", "100", "1000", "10000"),
    "duplex": _one_of("auto", "half", "full"),
}

_COMMON = """
interfaces ethernet <eth> address =addr_or_dhcp+
interfaces ethernet <eth> description =text
interfaces ethernet <eth> hw-id =mac
interfaces ethernet <eth> mtu =mtu
interfaces loopback <lo> address =ipv4host+
interfaces vti <vti> address =ipv4host+
interfaces vti <vti> description =text
interfaces vti <vti> mtu =mtu
interfaces vti <vti> disable
policy prefix-list <name> description =text
policy prefix-list <name> rule <rule> action =action
policy prefix-list <name> rule <rule> description =text
policy prefix-list <name> rule <rule> ge =prefix_len
policy prefix-list <name> rule <rule> le =prefix_len
policy prefix-list <name> rule <rule> prefix =ipv4net
policy route-map <name> description =text
policy route-map <name> rule <rule> action =action
policy route-map <name> rule <rule> description =text
policy route-map <name> rule <rule> match ip address prefix-list =name
protocols static route <ipv4net> blackhole distance =distance
protocols static route <ipv4net> next-hop <ipv4> distance =distance
service ssh listen-address =ipv4+
service ssh port =port
system config-management commit-revisions =u32
system console device <name> speed =u32
system domain-name =fqdn
system host-name =host
system login user <name> authentication encrypted-password =text
system login user <name> authentication plaintext-password =text
system login user <name> authentication public-keys <text> key =text
system login user <name> authentication public-keys <text> type =key_type
system login user <name> full-name =text
system name-server =ipv4+
system time-zone =text
vpn ipsec esp-group <name> lifetime =esp_life
vpn ipsec esp-group <name> mode =esp_mode
vpn ipsec esp-group <name> pfs =pfs
vpn ipsec esp-group <name> proposal <proposal> encryption =encryption
vpn ipsec esp-group <name> proposal <proposal> hash =hash
vpn ipsec ike-group <name> dead-peer-detection interval =dpd_time
vpn ipsec ike-group <name> dead-peer-detection timeout =dpd_time
vpn ipsec ike-group <name> key-exchange =key_exchange
vpn ipsec ike-group <name> proposal <proposal> dh-group =dh_group
vpn ipsec ike-group <name> proposal <proposal> encryption =encryption
vpn ipsec ike-group <name> proposal <proposal> hash =hash
"""

# The BGP neighbor options, relative to the BGP instance (`protocols bgp <asn>` or, from 1.4,
# `protocols bgp`); {af} is where per-address-family options live in that version.
_BGP = """
neighbor <ipv4> description =text
neighbor <ipv4> remote-as ={remote_as}
neighbor <ipv4> shutdown
neighbor <ipv4> timers holdtime =holdtime
neighbor <ipv4> timers keepalive =keepalive
neighbor <ipv4> update-source =ipv4
neighbor <ipv4> {af}route-map export =name
neighbor <ipv4> {af}route-map import =name
neighbor <ipv4> {af}soft-reconfiguration inbound
{af}network <ipv4net> route-map =name
{af}redistribute static metric =u32
{af}redistribute static route-map =name
parameters log-neighbor-changes
parameters router-id =ipv4
"""

_V11 = """
system syslog global facility <name> level =level
vpn ipsec ike-group <name> dead-peer-detection action =dpd_action
vpn ipsec ike-group <name> lifetime =ike_life
interfaces ethernet <eth> duplex =duplex
interfaces ethernet <eth> speed =speed
system login user <name> level =user_level
system ntp server <fqdn> prefer
vpn ipsec esp-group <name> compression =enable_disable
vpn ipsec ipsec-interfaces interface =eth+
vpn ipsec nat-traversal =enable_disable
vpn ipsec site-to-site peer <s2s_peer> authentication id =text
vpn ipsec site-to-site peer <s2s_peer> authentication mode =auth_mode
vpn ipsec site-to-site peer <s2s_peer> authentication pre-shared-secret =text
vpn ipsec site-to-site peer <s2s_peer> authentication remote-id =text
vpn ipsec site-to-site peer <s2s_peer> connection-type =conn_type
vpn ipsec site-to-site peer <s2s_peer> description =text
vpn ipsec site-to-site peer <s2s_peer> ike-group =name
vpn ipsec site-to-site peer <s2s_peer> local-address =local_address
vpn ipsec site-to-site peer <s2s_peer> vti bind =vti
vpn ipsec site-to-site peer <s2s_peer> vti esp-group =name
"""

_V13 = """
system syslog global facility <name> level =level
vpn ipsec ike-group <name> dead-peer-detection action =dpd_action
vpn ipsec ike-group <name> lifetime =ike_life
system ntp server <fqdn> prefer
vpn ipsec esp-group <name> compression =enable_disable
vpn ipsec ipsec-interfaces interface =eth+
vpn ipsec site-to-site peer <s2s_peer> authentication id =text
vpn ipsec site-to-site peer <s2s_peer> authentication mode =auth_mode
vpn ipsec site-to-site peer <s2s_peer> authentication pre-shared-secret =text
vpn ipsec site-to-site peer <s2s_peer> authentication remote-id =text
vpn ipsec site-to-site peer <s2s_peer> connection-type =conn_type
vpn ipsec site-to-site peer <s2s_peer> description =text
vpn ipsec site-to-site peer <s2s_peer> ike-group =name
vpn ipsec site-to-site peer <s2s_peer> local-address =local_address
vpn ipsec site-to-site peer <s2s_peer> vti bind =vti
vpn ipsec site-to-site peer <s2s_peer> vti esp-group =name
"""

_V14_15 = """
protocols bgp system-as =asn
service ntp server <fqdn> prefer
vpn ipsec authentication psk <name> id =text+
vpn ipsec authentication psk <name> secret =text
vpn ipsec esp-group <name> compression
vpn ipsec ike-group <name> dead-peer-detection action =dpd_action14
vpn ipsec ike-group <name> lifetime =ike_life14
vpn ipsec interface =eth+
vpn ipsec options disable-route-autoinstall
vpn ipsec site-to-site peer <peer14> authentication local-id =text
vpn ipsec site-to-site peer <peer14> authentication mode =auth_mode
vpn ipsec site-to-site peer <peer14> authentication remote-id =text
vpn ipsec site-to-site peer <peer14> connection-type =conn_type
vpn ipsec site-to-site peer <peer14> default-esp-group =name
vpn ipsec site-to-site peer <peer14> description =text
vpn ipsec site-to-site peer <peer14> ike-group =name
vpn ipsec site-to-site peer <peer14> local-address =local_address
vpn ipsec site-to-site peer <peer14> remote-address =peer_address+
vpn ipsec site-to-site peer <peer14> vti bind =vti
vpn ipsec site-to-site peer <peer14> vti esp-group =name
"""
# 1.4 keeps `system syslog global`; 1.5 renamed it `local` (vyos-1x migration system/28-to-29).
_V14 = "system syslog global facility <name> level =level\n" + _V14_15
_V15 = "system syslog local facility <name> level =level\n" + _V14_15


def _bgp_lines(version: Version) -> list[str]:
    prefix = "protocols bgp " if since_1_4(version) else "protocols bgp <asn> "
    af = "" if version == "1.1" else "address-family ipv4-unicast "
    remote_as = "asn" if version == "1.1" else "remote_as"
    body = _BGP.replace("{af}", af).replace("{remote_as}", remote_as)
    return [prefix + line for line in body.splitlines() if line.strip()]


def _add_pattern(root: SchemaNode, pattern: str) -> None:
    tokens = pattern.split()
    node = root
    i = 0
    while i < len(tokens):
        word = tokens[i]
        following = tokens[i + 1] if i + 1 < len(tokens) else None
        if following is not None and following.startswith("<"):
            kind, value_type, step = Kind.TAG, following[1:-1], 2
        elif following is not None and following.startswith("="):
            multi = following.endswith("+")
            kind = Kind.MULTI if multi else Kind.LEAF
            value_type, step = following[1:].rstrip("+"), 2
        elif following is None:
            kind, value_type, step = Kind.FLAG, None, 1
        else:
            kind, value_type, step = Kind.NODE, None, 1
        if value_type is not None and value_type not in VALIDATORS:
            raise ValueError(f"schema pattern {pattern!r}: unknown type {value_type!r}")
        existing = node.children.get(word)
        if existing is None:
            existing = SchemaNode(word, kind, value_type)
            node.children[word] = existing
        elif (existing.kind, existing.value_type) != (kind, value_type):
            raise ValueError(f"schema pattern {pattern!r} conflicts at {word!r}")
        node = existing
        i += step


@cache
def schema_for(version: Version) -> SchemaNode:
    """The root schema node of one VyOS version (built once)."""
    extra = {"1.1": _V11, "1.3": _V13, "1.4": _V14, "1.5": _V15}[version]
    root = SchemaNode("", Kind.NODE)
    for line in [*_COMMON.splitlines(), *extra.splitlines(), *_bgp_lines(version)]:
        if line.strip():
            _add_pattern(root, line)
    return root


def validate_value(value_type: str, value: str) -> str | None:
    return VALIDATORS[value_type](value)
