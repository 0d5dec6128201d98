"""Direct reads and writes of moto's in-process EC2 backend: the parts AWS does that moto does
not (VPN tunnel details and telemetry, synced source/dest check) and the world's truth.

Backends are looked up again on every call: a moto reset replaces them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.ec2.models import ec2_backends

from vpnwatch.lab.tags import ROUTER_TAG, SITE_TAG
from vpnwatch.lab.telemetry import TunnelRecord, TunnelRef
from vpnwatch.lab.vpn_details import (
    ConnectionFacts,
    TunnelPlan,
    customer_gateway_configuration,
    options_of,
)

DEFAULT_AMAZON_ASN = "64512"
_LAB_TUNNELS = "_vpnwatch_lab_tunnels"  # marks a connection the lab has filled in


def ec2_backend(region: str) -> Any:
    return ec2_backends[DEFAULT_ACCOUNT_ID][region]


def tags_of(resource: Any) -> dict[str, str]:
    return {t["key"]: t["value"] for t in resource.get_tags()}


# ---------------------------------------------------------------- VPN connections


def undecorated_connection_ids(region: str) -> list[str]:
    backend = ec2_backend(region)
    return [
        vpn_id
        for vpn_id, conn in list(backend.vpn_connections.items())
        if getattr(conn, _LAB_TUNNELS, None) is None and conn.state != "deleted"
    ]


def decorate_connection(
    region: str, vpn_id: str, tunnels: tuple[TunnelPlan, ...], static_routes_only: bool
) -> list[TunnelRef]:
    """Give a moto connection AWS-like Options and CustomerGatewayConfiguration."""
    backend = ec2_backend(region)
    conn = backend.vpn_connections[vpn_id]
    cgw = backend.customer_gateways.get(conn.customer_gateway_id)
    vgw = backend.vpn_gateways.get(conn.vpn_gateway_id) if conn.vpn_gateway_id else None
    cgw_ip = cgw.ip_address if cgw is not None else ""
    facts = ConnectionFacts(
        vpn_connection_id=vpn_id,
        customer_gateway_id=conn.customer_gateway_id,
        vpn_gateway_id=conn.vpn_gateway_id or "",
        connection_type=conn.type,
        customer_gateway_ip=cgw_ip,
        customer_gateway_asn=str(cgw.bgp_asn) if cgw is not None else "65000",
        vpn_gateway_asn=str(getattr(vgw, "amazon_side_asn", None) or DEFAULT_AMAZON_ASN),
        tunnels=tunnels,
    )
    conn.options = options_of(tunnels, static_routes_only)
    # moto's own value is a read-only property; its serializer looks this name up first.
    conn.CustomerGatewayConfiguration = customer_gateway_configuration(facts)
    setattr(conn, _LAB_TUNNELS, tunnels)
    return [
        TunnelRef(region, vpn_id, t.outside_ip, conn.customer_gateway_id, cgw_ip, t.inside_cidr)
        for t in tunnels
    ]


def lab_tunnels(region: str, vpn_id: str) -> tuple[TunnelPlan, ...] | None:
    """The tunnels the lab gave a live connection (None: no such connection)."""
    conn = ec2_backend(region).vpn_connections.get(vpn_id)
    if conn is None or conn.state == "deleted":
        return None
    tunnels: tuple[TunnelPlan, ...] = getattr(conn, _LAB_TUNNELS, ())
    return tunnels


def replace_tunnel(region: str, vpn_id: str, plan: TunnelPlan) -> list[TunnelRef]:
    """Put one changed tunnel (same outside IP) into the connection: Options and the XML
    are rebuilt from it, as AWS shows them after ModifyVpnTunnelOptions."""
    conn = ec2_backend(region).vpn_connections[vpn_id]
    tunnels = tuple(
        plan if t.outside_ip == plan.outside_ip else t for t in getattr(conn, _LAB_TUNNELS, ())
    )
    static = bool((getattr(conn, "options", None) or {}).get("StaticRoutesOnly", False))
    return decorate_connection(region, vpn_id, tunnels, static)


def vpn_connection_response(region: str, vpn_id: str, action: str) -> bytes:
    """The XML body of an EC2 `action` whose result is {"VpnConnection": ...}, serialized
    by moto's own EC2 serializer from the botocore shape (the real response shape)."""
    from moto.core.serialize import XFormedAttributePicker, get_serializer_class
    from moto.core.utils import get_service_model
    from moto.ec2.responses._base_response import EC2BaseResponse

    service = get_service_model("ec2")
    serializer = get_serializer_class("ec2", "ec2")(
        operation_model=service.operation_model(action),
        value_picker=XFormedAttributePicker(
            response_transformers=EC2BaseResponse.RESPONSE_KEY_PATH_TO_TRANSFORMER
        ),
    )
    conn = ec2_backend(region).vpn_connections[vpn_id]
    body: bytes | str = serializer.serialize({"VpnConnection": conn})["body"]
    return body.encode() if isinstance(body, str) else body


def write_telemetry(region: str, records: Iterable[TunnelRecord]) -> None:
    """Put the records into the connections so DescribeVpnConnections returns them."""
    backend = ec2_backend(region)
    by_vpn: dict[str, list[TunnelRecord]] = {}
    for record in records:
        by_vpn.setdefault(record.ref.vpn_connection_id, []).append(record)
    for vpn_id, recs in by_vpn.items():
        conn = backend.vpn_connections.get(vpn_id)
        if conn is None:
            continue
        order = [t.outside_ip for t in getattr(conn, _LAB_TUNNELS, ())]
        recs.sort(key=lambda r: order.index(r.ref.outside_ip) if r.ref.outside_ip in order else 9)
        conn.vgw_telemetry = [r.vgw_telemetry() for r in recs]


def connection_views(region: str, records: list[TunnelRecord]) -> list[dict[str, Any]]:
    backend = ec2_backend(region)
    by_key = {r.ref.key: r for r in records}
    views = []
    for vpn_id, conn in list(backend.vpn_connections.items()):
        cgw = backend.customer_gateways.get(conn.customer_gateway_id)
        tunnels = []
        for plan in getattr(conn, _LAB_TUNNELS, ()):
            record = by_key.get((vpn_id, plan.outside_ip))
            view = {"outside_ip": plan.outside_ip, "inside_cidr": plan.inside_cidr}
            view |= record.to_json() if record else {"status": None}
            tunnels.append(view)
        views.append(
            {
                "id": vpn_id,
                "region": region,
                "state": conn.state,
                "customer_gateway_id": conn.customer_gateway_id,
                "customer_gateway_ip": cgw.ip_address if cgw is not None else None,
                "vpn_gateway_id": conn.vpn_gateway_id,
                "tags": tags_of(conn),
                "tunnels": tunnels,
            }
        )
    return views


# ---------------------------------------------------------------- instances and addresses


def _holder_id(eip: Any) -> str | None:
    if eip.instance is not None:
        return str(eip.instance.id)
    if eip.eni is not None and eip.eni.instance is not None:
        return str(eip.eni.instance.id)
    return None


def public_ips_by_instance(region: str) -> dict[str, str]:
    """Instance id → the Elastic IP associated with it now (what DescribeAddresses says)."""
    found: dict[str, str] = {}
    for eip in list(ec2_backend(region).addresses):
        holder = _holder_id(eip)
        if holder is not None:
            found.setdefault(holder, eip.public_ip)
    return found


def eip_holder(region: str, public_ip: str) -> str | None:
    """The instance the Elastic IP `public_ip` is associated with now, if any."""
    for eip in list(ec2_backend(region).addresses):
        if eip.public_ip == public_ip:
            return _holder_id(eip)
    return None


def instance_views(region: str) -> list[dict[str, Any]]:
    eips = public_ips_by_instance(region)
    views = []
    for instance in ec2_backend(region).all_instances():
        tags = tags_of(instance)
        views.append(
            {
                "instance_id": instance.id,
                "region": region,
                "router": tags.get(ROUTER_TAG),
                "site": tags.get(SITE_TAG),
                "state": instance.instance_state.name,
                "private_ip": instance.private_ip,
                "public_ip": eips.get(instance.id),
                "source_dest_check": _as_bool(instance.source_dest_check),
                "tags": tags,
            }
        )
    return views


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def sync_source_dest_check(region: str, params: dict[str, str]) -> None:
    """In AWS the instance's flag is its primary interface's; moto keeps two. Copy across."""
    backend = ec2_backend(region)
    value = params.get("SourceDestCheck.Value")
    if value is None:
        if params.get("Attribute") != "sourceDestCheck" or "Value" not in params:
            return
        value = params["Value"]
    flag = _as_bool(value)
    if params.get("Action") == "ModifyInstanceAttribute":
        instance = backend.get_instance(params["InstanceId"])
        instance.source_dest_check = flag
        primary = instance.nics.get(0)
        if primary is not None:
            primary.source_dest_check = flag
    elif params.get("Action") == "ModifyNetworkInterfaceAttribute":
        eni = backend.get_network_interface(params["NetworkInterfaceId"])
        eni.source_dest_check = flag
        if eni.instance is not None and eni.device_index == 0:
            eni.instance.source_dest_check = flag
