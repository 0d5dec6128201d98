"""Pure discovery: AWS API responses (as boto3 returns them) → the model.

router → its EIP → customer gateways with that IP → VPN connections → tunnels and the BGP
inside addresses (from the connection's TunnelOptions, else its CustomerGatewayConfiguration).
No I/O here, so it is tested on recorded responses and fixture files.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree

from vpnwatch.errors import ParseError
from vpnwatch.model import (
    InstanceInfo,
    RouterAwsView,
    TunnelInfo,
    TunnelTelemetry,
    VpnConnectionInfo,
)
from vpnwatch.vocabulary import TunnelStatus

Json = Mapping[str, Any]


@dataclass(frozen=True)
class RouterSelector:
    name: str
    region: str
    instance_id: str | None
    tags: Mapping[str, str] | None


@dataclass(frozen=True)
class ObservedAws:
    views: Mapping[str, RouterAwsView]
    errors: tuple[tuple[str, str], ...]  # (source, reason) per failed region


@dataclass(frozen=True)
class RegionResponses:
    """The raw responses of one region's cycle (lists of AWS items)."""

    instances: Sequence[Json]
    statuses: Sequence[Json]
    addresses: Sequence[Json]
    customer_gateways: Sequence[Json]
    vpn_connections: Sequence[Json]


def _timestamp(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ParseError(f"LastStatusChange {value!r} is not a timestamp") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise ParseError(f"LastStatusChange has an unexpected type {type(value).__name__}")


def _ip(value: Any, what: str) -> str:
    try:
        return str(ipaddress.ip_address(str(value).strip()))
    except ValueError:
        raise ParseError(f"{what} {value!r} is not an IP address") from None


def parse_telemetry(vpn_id: str, items: Iterable[Json]) -> tuple[TunnelTelemetry, ...]:
    out = []
    for item in items:
        status_text = str(item.get("Status", "")).upper()
        try:
            status = TunnelStatus(status_text)
        except ValueError:
            raise ParseError(
                f"{vpn_id}: tunnel status {status_text!r} is neither UP nor DOWN"
            ) from None
        routes = item.get("AcceptedRouteCount", 0)
        if not isinstance(routes, int) or routes < 0:
            raise ParseError(f"{vpn_id}: AcceptedRouteCount {routes!r} is not a count")
        out.append(
            TunnelTelemetry(
                vpn_connection_id=vpn_id,
                outside_ip=_ip(item.get("OutsideIpAddress"), f"{vpn_id}: tunnel OutsideIpAddress"),
                status=status,
                status_message=str(item.get("StatusMessage") or ""),
                accepted_routes=routes,
                last_status_change=_timestamp(item.get("LastStatusChange")),
            )
        )
    return tuple(out)


def _inside_addresses(cidr: str | None) -> tuple[str | None, str | None]:
    """AWS uses the first host of the /30 and the customer side the second."""
    if not cidr:
        return None, None
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        raise ParseError(f"TunnelInsideCidr {cidr!r} is not a network") from None
    hosts = list(net.hosts())
    if len(hosts) < 2:
        raise ParseError(f"TunnelInsideCidr {cidr!r} has fewer than two host addresses")
    return str(hosts[0]), str(hosts[1])


def tunnels_from_cgw_config(vpn_id: str, xml_text: str) -> tuple[TunnelInfo, ...]:
    """Tunnels from AWS's CustomerGatewayConfiguration XML (the generic download)."""
    try:
        root = ElementTree.fromstring(xml_text.strip())  # noqa: S314 - AWS's own document
    except ElementTree.ParseError:
        raise ParseError(f"{vpn_id}: CustomerGatewayConfiguration is not valid XML") from None
    tunnels = []
    for block in root.iter("ipsec_tunnel"):
        outside = block.findtext("vpn_gateway/tunnel_outside_address/ip_address")
        aws_inside = block.findtext("vpn_gateway/tunnel_inside_address/ip_address")
        cgw_inside = block.findtext("customer_gateway/tunnel_inside_address/ip_address")
        prefix = block.findtext("vpn_gateway/tunnel_inside_address/network_cidr")
        if not outside:
            raise ParseError(
                f"{vpn_id}: a tunnel in CustomerGatewayConfiguration has no outside IP"
            )
        cidr = None
        if aws_inside and prefix:
            cidr = str(ipaddress.ip_interface(f"{aws_inside.strip()}/{prefix.strip()}").network)
        tunnels.append(
            TunnelInfo(
                vpn_connection_id=vpn_id,
                outside_ip=_ip(outside, f"{vpn_id}: tunnel outside address"),
                inside_cidr=cidr,
                aws_inside_ip=_ip(aws_inside, "inside address") if aws_inside else None,
                router_inside_ip=_ip(cgw_inside, "inside address") if cgw_inside else None,
            )
        )
    return tuple(tunnels)


def parse_vpn_connection(item: Json) -> VpnConnectionInfo:
    vpn_id = item.get("VpnConnectionId")
    if not isinstance(vpn_id, str) or not vpn_id.startswith("vpn-"):
        raise ParseError(f"a VPN connection has no valid VpnConnectionId ({vpn_id!r})")
    telemetry = parse_telemetry(vpn_id, item.get("VgwTelemetry") or ())
    tunnels: tuple[TunnelInfo, ...] = ()
    options = item.get("Options") or {}
    tunnel_options = options.get("TunnelOptions") or ()
    if tunnel_options:
        found = []
        for opt in tunnel_options:
            cidr = opt.get("TunnelInsideCidr")
            aws_ip, router_ip = _inside_addresses(cidr)
            found.append(
                TunnelInfo(
                    vpn_connection_id=vpn_id,
                    outside_ip=_ip(
                        opt.get("OutsideIpAddress"), f"{vpn_id}: tunnel outside address"
                    ),
                    inside_cidr=cidr,
                    aws_inside_ip=aws_ip,
                    router_inside_ip=router_ip,
                )
            )
        tunnels = tuple(found)
    elif item.get("CustomerGatewayConfiguration"):
        # Only the inside addresses come from here; without them the BGP neighbors are
        # unknown but the AWS telemetry below still stands on its own.
        with contextlib.suppress(ParseError):
            tunnels = tunnels_from_cgw_config(vpn_id, str(item["CustomerGatewayConfiguration"]))
    if not tunnels:  # fall back to what telemetry tells us: outside IPs only
        tunnels = tuple(TunnelInfo(vpn_id, t.outside_ip, None, None, None) for t in telemetry)
    return VpnConnectionInfo(
        vpn_connection_id=vpn_id,
        state=str(item.get("State", "unknown")),
        customer_gateway_id=str(item.get("CustomerGatewayId", "")),
        customer_gateway_ip="",
        gateway_id=item.get("VpnGatewayId") or item.get("TransitGatewayId"),
        tunnels=tunnels,
        telemetry=telemetry,
    )


def parse_instance(item: Json, statuses: Mapping[str, Json]) -> InstanceInfo:
    instance_id = item.get("InstanceId")
    if not isinstance(instance_id, str):
        raise ParseError("an instance has no InstanceId")
    tags = {str(t.get("Key")): str(t.get("Value", "")) for t in item.get("Tags") or ()}
    status = statuses.get(instance_id)
    status_ok: bool | None = None
    if status is not None:
        checks = (
            status.get("InstanceStatus", {}).get("Status"),
            status.get("SystemStatus", {}).get("Status"),
        )
        if all(c in ("ok", "initializing") for c in checks):
            status_ok = True
        elif any(c == "impaired" for c in checks):
            status_ok = False
    return InstanceInfo(
        instance_id=instance_id,
        state=str((item.get("State") or {}).get("Name", "unknown")),
        private_ip=item.get("PrivateIpAddress"),
        public_ip=item.get("PublicIpAddress"),
        subnet_id=item.get("SubnetId"),
        source_dest_check=item.get("SourceDestCheck"),
        tags=tags,
        status_ok=status_ok,
    )


def _select_instance(
    selector: RouterSelector, instances: Sequence[InstanceInfo]
) -> tuple[InstanceInfo | None, str | None]:
    live = [i for i in instances if i.state not in ("terminated", "shutting-down")]
    if selector.instance_id is not None:
        matches = [i for i in instances if i.instance_id == selector.instance_id]
        if not matches:
            return None, f"instance {selector.instance_id} not found"
        return matches[0], None
    wanted = dict(selector.tags or {})
    matches = [i for i in live if all(i.tags.get(k) == v for k, v in wanted.items())]
    if not matches:
        return None, f"tag selector {wanted} matched no live instance"
    if len(matches) > 1:
        ids = ", ".join(sorted(i.instance_id for i in matches))
        return None, f"tag selector {wanted} is ambiguous: it matched {ids}"
    return matches[0], None


def _elastic_ip(instance: InstanceInfo, addresses: Sequence[Json]) -> str | None:
    for address in addresses:
        if address.get("InstanceId") == instance.instance_id and address.get("PublicIp"):
            return str(address["PublicIp"])
    return None


def discover(
    selectors: Sequence[RouterSelector], responses: RegionResponses
) -> dict[str, RouterAwsView]:
    """Map every router of one region to its AWS view. Raises ParseError on bad responses."""
    statuses = {str(s.get("InstanceId")): s for s in responses.statuses}
    instances = [parse_instance(i, statuses) for i in responses.instances]
    cgw_ip = {
        str(c.get("CustomerGatewayId")): str(c.get("IpAddress", ""))
        for c in responses.customer_gateways
        if c.get("State", "available") in ("available", "pending")
    }
    connections = []
    for raw in responses.vpn_connections:
        if raw.get("State") in ("deleted", "deleting"):
            continue
        parsed = parse_vpn_connection(raw)
        connections.append(
            VpnConnectionInfo(
                **{
                    **parsed.__dict__,
                    "customer_gateway_ip": cgw_ip.get(parsed.customer_gateway_id, ""),
                }
            )
        )
    views: dict[str, RouterAwsView] = {}
    for selector in selectors:
        instance, problem = _select_instance(selector, instances)
        if instance is None:
            views[selector.name] = RouterAwsView(
                selector.name, selector.region, None, None, (), error=problem
            )
            continue
        eip = _elastic_ip(instance, responses.addresses) or instance.public_ip
        mine = tuple(
            sorted(
                (c for c in connections if eip and c.customer_gateway_ip == eip),
                key=lambda c: c.vpn_connection_id,
            )
        )
        views[selector.name] = RouterAwsView(selector.name, selector.region, instance, eip, mine)
    return views
