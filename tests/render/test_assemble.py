"""One router's render input from AWS's answers: the far site of each connection, the ASN,
and clear errors when AWS and the config do not fit together."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tests.render.builders import HUB, SITES, SPOKE1, SPOKE2
from vpnwatch.render import RenderConfigError, RenderInputError
from vpnwatch.render.assemble import RouterFacts, router_intent

REAL = json.loads(
    (
        Path(__file__).parents[1]
        / "fixtures"
        / "render"
        / "netbrain-2023-vgw-connection-xml-only.json"
    ).read_text()
)


def _facts(**change: Any) -> RouterFacts:
    item = copy.deepcopy(REAL["VpnConnection"])
    fields: dict[str, Any] = {
        "name": "hub-r1",
        "private_ip": "10.0.0.11",
        "subnet_cidr": "10.0.0.0/24",
        "connections": (item,),
        "customer_gateways": {"cgw-xxxxxxxxxxxxxxxxx": REAL["CustomerGateway"]},
        "vpn_gateways": {"vgw-xxxxxxxxxxxxxxxxx": REAL["VpnGateway"]},
        "vpc_cidrs": {"vpc-xxxxxxxxxxxxxxxxx": ("10.2.0.0/16", "100.64.0.0/24")},
    }
    return RouterFacts(**(fields | change))


def test_the_far_site_is_the_one_whose_vpc_the_gateway_is_attached_to() -> None:
    intent = router_intent(_facts(), HUB, SITES, None)
    (connection,) = intent.connections
    assert (connection.far_site, connection.accept) == (SPOKE2.name, (SPOKE2.vpc_cidr,))
    assert (intent.local_asn, intent.vpc_router_ip, intent.private_ip) == (
        64513,
        "10.0.0.1",
        "10.0.0.11",
    )


def test_a_configured_asn_must_agree_with_aws() -> None:
    assert router_intent(_facts(), HUB, SITES, 64513).local_asn == 64513
    with pytest.raises(RenderConfigError, match=r"vpn\.bgp_asn 65000 differs .* \(64513\)"):
        router_intent(_facts(), HUB, SITES, 65000)


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"vpc_cidrs": {}}, RenderConfigError, "exactly one site's vpn.vpc_cidr"),
        ({"private_ip": None}, RenderInputError, "no instance or private IP"),
        ({"subnet_cidr": None}, RenderInputError, "no subnet"),
        ({"connections": ()}, RenderInputError, "no VPN connection has its Elastic IP"),
        ({"vpn_gateways": {}}, RenderInputError, "not in DescribeVpnGateways"),
    ],
)
def test_what_does_not_fit_is_a_clear_error(
    change: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        router_intent(_facts(**change), HUB, SITES, None)


def test_transit_gateway_connections_are_refused() -> None:
    item = copy.deepcopy(REAL["VpnConnection"])
    del item["VpnGatewayId"]
    item["TransitGatewayId"] = "tgw-0123"
    with pytest.raises(RenderInputError, match="transit gateway"):
        router_intent(_facts(connections=(item,)), SPOKE1, SITES, None)


def test_deleted_connections_are_left_out() -> None:
    gone = copy.deepcopy(REAL["VpnConnection"]) | {"State": "deleted", "VpnConnectionId": "vpn-old"}
    intent = router_intent(_facts(connections=(gone, REAL["VpnConnection"])), HUB, SITES, None)
    assert [c.params.vpn_connection_id for c in intent.connections] == ["vpn-xxxxxxxxxxxxxxxxx"]
