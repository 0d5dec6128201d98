"""AWS's side of a VPN connection, from DescribeVpnConnections: its `Options.TunnelOptions`,
else its `CustomerGatewayConfiguration` XML (pure; errors never quote a key).

TunnelOptions only report what was set on a tunnel; for the rest AWS's defaults apply
(Site-to-Site VPN guide, "Tunnel options": AES128, AES256, AES128-GCM-16, AES256-GCM-16;
SHA1, SHA2-256, SHA2-384, SHA2-512; DH 2, 14-24 (phase 2 also 5); IKE lifetime 28800 s,
IPsec 3600 s; DPD timeout 30 s; IKEv1 and IKEv2). Of several permitted values the first in
that order is rendered: AWS evaluates proposals "starting with the lowest configured value",
and the defaults give AES128/SHA1/group 2, what AWS's own sample configuration uses.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any
from xml.etree import ElementTree

from vpnwatch.render.model import ConnectionParams, Phase1, Phase2, RenderInputError, TunnelParams

ENCRYPTION = {  # AWS name → VyOS proposal keyword
    "AES128": "aes128",
    "AES256": "aes256",
    "AES128-GCM-16": "aes128gcm128",
    "AES256-GCM-16": "aes256gcm128",
}
INTEGRITY = {"SHA1": "sha1", "SHA2-256": "sha256", "SHA2-384": "sha384", "SHA2-512": "sha512"}
PHASE1_DH = (2, *range(14, 25))
PHASE2_DH = (2, 5, *range(14, 25))
DEFAULT_PHASE1_LIFETIME = 28800
DEFAULT_PHASE2_LIFETIME = 3600
DEFAULT_DPD_TIMEOUT = 30
# The hold time AWS's generated configurations give BGP (`<hold_time>` in the XML).
AWS_BGP_HOLDTIME = 30

_XML_ENCRYPTION = {
    "aes-128-cbc": "aes128",
    "aes-256-cbc": "aes256",
    "aes-128-gcm-16": "aes128gcm128",
    "aes-256-gcm-16": "aes256gcm128",
}
_XML_IKE_INTEGRITY = {
    "sha1": "sha1",
    "sha2-256": "sha256",
    "sha2-384": "sha384",
    "sha2-512": "sha512",
}
_XML_ESP_INTEGRITY = {
    "hmac-sha1-96": "sha1",
    "hmac-sha2-256-128": "sha256",
    "hmac-sha2-384-192": "sha384",
    "hmac-sha2-512-256": "sha512",
}
Json = Mapping[str, Any]


def _inside(vpn_id: str, n: int, cidr: object) -> tuple[str, str, str]:
    """(cidr, AWS's address, the router's): AWS takes the first host of the /30."""
    try:
        net = ipaddress.IPv4Network(str(cidr), strict=True)
    except ValueError:
        raise RenderInputError(
            f"{vpn_id} tunnel {n}: inside CIDR {cidr!r} is not a network"
        ) from None
    if net.prefixlen != 30 or not net.subnet_of(ipaddress.IPv4Network("169.254.0.0/16")):
        raise RenderInputError(
            f"{vpn_id} tunnel {n}: inside CIDR {net} is not a /30 in 169.254.0.0/16"
        )
    return str(net), str(net[1]), str(net[2])


def _address(vpn_id: str, n: int, value: object) -> str:
    try:
        return str(ipaddress.IPv4Address(str(value).strip()))
    except ValueError:
        raise RenderInputError(
            f"{vpn_id} tunnel {n}: outside address {value!r} is not IPv4"
        ) from None


def _values(option: Json, key: str) -> list[Any]:
    raw = option.get(key) or []
    return [item.get("Value") for item in raw if isinstance(item, Mapping)]


def _pick(vpn_id: str, n: int, option: Json, key: str, table: Mapping[str, str]) -> str:
    reported = _values(option, key)
    unknown = [v for v in reported if v not in table]
    if unknown:
        raise RenderInputError(f"{vpn_id} tunnel {n}: {key} has unknown value {unknown[0]!r}")
    chosen = next((aws for aws in table if not reported or aws in reported), None)
    assert chosen is not None
    return table[chosen]


def _group(vpn_id: str, n: int, option: Json, key: str, allowed: tuple[int, ...]) -> int:
    reported = _values(option, key)
    bad = [v for v in reported if not isinstance(v, int) or v not in allowed]
    if bad:
        raise RenderInputError(f"{vpn_id} tunnel {n}: {key} has unknown group {bad[0]!r}")
    return next(g for g in allowed if not reported or g in reported)


def _seconds(vpn_id: str, n: int, option: Json, key: str, default: int) -> int:
    value = option.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise RenderInputError(f"{vpn_id} tunnel {n}: {key} {value!r} is not a number of seconds")
    return value


def _ike_version(versions: Sequence[Any]) -> str | None:
    chosen = set(versions) & {"ikev1", "ikev2"}
    return chosen.pop() if len(chosen) == 1 else None


def _from_option(vpn_id: str, n: int, option: Json) -> TunnelParams:
    psk = option.get("PreSharedKey")
    if not isinstance(psk, str) or not psk:
        raise RenderInputError(
            f"{vpn_id} tunnel {n}: TunnelOptions has no PreSharedKey "
            "(a key kept in Secrets Manager is not supported)"
        )
    cidr, aws_ip, router_ip = _inside(vpn_id, n, option.get("TunnelInsideCidr"))
    phase1 = Phase1(
        encryption=_pick(vpn_id, n, option, "Phase1EncryptionAlgorithms", ENCRYPTION),
        integrity=_pick(vpn_id, n, option, "Phase1IntegrityAlgorithms", INTEGRITY),
        dh_group=_group(vpn_id, n, option, "Phase1DHGroupNumbers", PHASE1_DH),
        lifetime=_seconds(vpn_id, n, option, "Phase1LifetimeSeconds", DEFAULT_PHASE1_LIFETIME),
        dpd_timeout=_seconds(vpn_id, n, option, "DpdTimeoutSeconds", DEFAULT_DPD_TIMEOUT),
        ike_version=_ike_version(_values(option, "IkeVersions")),
    )
    phase2 = Phase2(
        encryption=_pick(vpn_id, n, option, "Phase2EncryptionAlgorithms", ENCRYPTION),
        integrity=_pick(vpn_id, n, option, "Phase2IntegrityAlgorithms", INTEGRITY),
        dh_group=_group(vpn_id, n, option, "Phase2DHGroupNumbers", PHASE2_DH),
        lifetime=_seconds(vpn_id, n, option, "Phase2LifetimeSeconds", DEFAULT_PHASE2_LIFETIME),
    )
    outside = _address(vpn_id, n, option.get("OutsideIpAddress"))
    return TunnelParams(outside, cidr, aws_ip, router_ip, psk, phase1, phase2)


def _sorted(tunnels: list[TunnelParams]) -> tuple[TunnelParams, ...]:
    return tuple(sorted(tunnels, key=lambda t: ipaddress.IPv4Address(t.outside_ip)))


def from_tunnel_options(
    vpn_id: str, options: Sequence[Json], *, aws_asn: int, customer_asn: int | None
) -> ConnectionParams:
    """A connection from its TunnelOptions; the ASNs come from DescribeVpnGateways and
    DescribeCustomerGateways (TunnelOptions do not carry them)."""
    tunnels = [_from_option(vpn_id, n, o) for n, o in enumerate(options, start=1)]
    return ConnectionParams(vpn_id, aws_asn, customer_asn, AWS_BGP_HOLDTIME, _sorted(tunnels))


# ---------------------------------------------------------------- the XML


def _text(vpn_id: str, n: int, node: ElementTree.Element, path: str) -> str:
    value = node.findtext(path)
    if value is None or not value.strip():
        raise RenderInputError(f"{vpn_id} tunnel {n}: CustomerGatewayConfiguration lacks {path}")
    return value.strip()


def _number(vpn_id: str, n: int, node: ElementTree.Element, path: str) -> int:
    value = _text(vpn_id, n, node, path)
    if not value.isdigit() or int(value) <= 0:
        raise RenderInputError(f"{vpn_id} tunnel {n}: {path} {value!r} is not a number")
    return int(value)


def _named(vpn_id: str, n: int, node: ElementTree.Element, path: str, table: Json) -> str:
    value = _text(vpn_id, n, node, path)
    if value not in table:
        raise RenderInputError(f"{vpn_id} tunnel {n}: unknown {path} {value!r}")
    return str(table[value])


def _dh(vpn_id: str, n: int, node: ElementTree.Element, path: str) -> int:
    value = _text(vpn_id, n, node, path)
    if not value.startswith("group") or not value[5:].isdigit():
        raise RenderInputError(f"{vpn_id} tunnel {n}: {path} {value!r} is not a DH group")
    return int(value[5:])


def _from_xml_tunnel(vpn_id: str, n: int, t: ElementTree.Element) -> TunnelParams:
    aws_ip = _text(vpn_id, n, t, "vpn_gateway/tunnel_inside_address/ip_address")
    length = _number(vpn_id, n, t, "vpn_gateway/tunnel_inside_address/network_cidr")
    try:
        cidr = str(ipaddress.IPv4Interface(f"{aws_ip}/{length}").network)
    except ValueError:
        raise RenderInputError(
            f"{vpn_id} tunnel {n}: inside address {aws_ip!r} is not IPv4"
        ) from None
    cidr, aws_inside, router_inside = _inside(vpn_id, n, cidr)
    router_said = _text(vpn_id, n, t, "customer_gateway/tunnel_inside_address/ip_address")
    if (aws_ip, router_said) != (aws_inside, router_inside):
        raise RenderInputError(f"{vpn_id} tunnel {n}: inside addresses are not AWS's .1 and .2")
    interval = _number(vpn_id, n, t, "ipsec/dead_peer_detection/interval")
    retries = _number(vpn_id, n, t, "ipsec/dead_peer_detection/retries")
    phase1 = Phase1(
        encryption=_named(vpn_id, n, t, "ike/encryption_protocol", _XML_ENCRYPTION),
        integrity=_named(vpn_id, n, t, "ike/authentication_protocol", _XML_IKE_INTEGRITY),
        dh_group=_dh(vpn_id, n, t, "ike/perfect_forward_secrecy"),
        lifetime=_number(vpn_id, n, t, "ike/lifetime"),
        dpd_timeout=interval * retries,
        # IKEv1 main mode is named when AWS permits IKEv1; without it only IKEv2 is left
        ike_version=None if (t.findtext("ike/mode") or "").strip() else "ikev2",
    )
    phase2 = Phase2(
        encryption=_named(vpn_id, n, t, "ipsec/encryption_protocol", _XML_ENCRYPTION),
        integrity=_named(vpn_id, n, t, "ipsec/authentication_protocol", _XML_ESP_INTEGRITY),
        dh_group=_dh(vpn_id, n, t, "ipsec/perfect_forward_secrecy"),
        lifetime=_number(vpn_id, n, t, "ipsec/lifetime"),
    )
    outside_text = _text(vpn_id, n, t, "vpn_gateway/tunnel_outside_address/ip_address")
    outside = _address(vpn_id, n, outside_text)
    psk = _text(vpn_id, n, t, "ike/pre_shared_key")
    return TunnelParams(outside, cidr, aws_inside, router_inside, psk, phase1, phase2)


def from_customer_gateway_xml(vpn_id: str, xml_text: str) -> ConnectionParams:
    """A connection from AWS's generic CustomerGatewayConfiguration XML."""
    try:
        root = ElementTree.fromstring(xml_text.strip())  # noqa: S314 - AWS's own document
    except ElementTree.ParseError:
        raise RenderInputError(f"{vpn_id}: CustomerGatewayConfiguration is not valid XML") from None
    blocks = list(root.iter("ipsec_tunnel"))
    if not blocks:
        raise RenderInputError(f"{vpn_id}: CustomerGatewayConfiguration has no ipsec_tunnel")
    tunnels = [_from_xml_tunnel(vpn_id, n, b) for n, b in enumerate(blocks, start=1)]
    first = blocks[0]
    aws_asn = _number(vpn_id, 1, first, "vpn_gateway/bgp/asn")
    customer_asn = _number(vpn_id, 1, first, "customer_gateway/bgp/asn")
    holdtime = _number(vpn_id, 1, first, "vpn_gateway/bgp/hold_time")
    return ConnectionParams(vpn_id, aws_asn, customer_asn, holdtime, _sorted(tunnels))


# ---------------------------------------------------------------- either


def _complete(options: Sequence[Any]) -> bool:
    return bool(options) and all(
        isinstance(o, Mapping)
        and o.get("OutsideIpAddress")
        and o.get("TunnelInsideCidr")
        and o.get("PreSharedKey")
        for o in options
    )


def connection_params(
    item: Json, *, aws_asn: int | None, customer_asn: int | None
) -> ConnectionParams:
    """From one DescribeVpnConnections item: TunnelOptions when they are complete (address,
    inside CIDR and key for every tunnel), else the XML; RenderInputError when neither."""
    vpn_id = str(item.get("VpnConnectionId") or "?")
    options = (item.get("Options") or {}).get("TunnelOptions") or []
    xml = item.get("CustomerGatewayConfiguration")
    if _complete(options):
        if aws_asn is None:
            raise RenderInputError(f"{vpn_id}: the Amazon-side ASN of its gateway is unknown")
        return from_tunnel_options(vpn_id, options, aws_asn=aws_asn, customer_asn=customer_asn)
    if isinstance(xml, str) and xml.strip():
        return from_customer_gateway_xml(vpn_id, xml)
    missing = "incomplete TunnelOptions" if options else "no TunnelOptions"
    raise RenderInputError(f"{vpn_id}: {missing} and no CustomerGatewayConfiguration")
