from __future__ import annotations

import json
from pathlib import Path

import pytest

from vpnwatch.discovery import (
    RegionResponses,
    RouterSelector,
    discover,
    parse_vpn_connection,
    tunnels_from_cgw_config,
)
from vpnwatch.errors import ParseError
from vpnwatch.vocabulary import TunnelStatus

FIXTURES = Path(__file__).parents[1] / "fixtures" / "router-outputs"
CGW_XML = """<?xml version="1.0" encoding="UTF-8"?>
<vpn_connection id="vpn-0a1b2c3d">
  <customer_gateway_id>cgw-1</customer_gateway_id>
  <vpn_gateway_id> vgw-1 </vpn_gateway_id>
  <ipsec_tunnel>
    <customer_gateway>
      <tunnel_outside_address><ip_address>127.0.0.7</ip_address></tunnel_outside_address>
      <tunnel_inside_address><ip_address>169.254.10.2</ip_address>
        <network_mask>255.255.255.252</network_mask><network_cidr>30</network_cidr>
      </tunnel_inside_address>
    </customer_gateway>
    <vpn_gateway>
      <tunnel_outside_address><ip_address>198.51.100.1</ip_address></tunnel_outside_address>
      <tunnel_inside_address><ip_address>169.254.10.1</ip_address>
        <network_mask>255.255.255.252</network_mask><network_cidr>30</network_cidr>
      </tunnel_inside_address>
    </vpn_gateway>
    <ike><pre_shared_key>s3cr3t-psk</pre_shared_key></ike>
  </ipsec_tunnel>
</vpn_connection>"""


def test_real_describe_vpn_connections_fixture_matches_ground_truth() -> None:
    truth = json.loads((FIXTURES / "ground_truth.json").read_text())[
        "describe-vpn-connections/awsdocs-ec2-example-2020-tgw-down-up.txt"
    ]
    raw = json.loads(
        (FIXTURES / "describe-vpn-connections/awsdocs-ec2-example-2020-tgw-down-up.txt").read_text()
    )
    conns = [parse_vpn_connection(c) for c in raw["VpnConnections"]]
    assert [c.vpn_connection_id for c in conns] == [c["id"] for c in truth["connections"]]
    for conn, want in zip(conns, truth["connections"], strict=True):
        assert conn.gateway_id == "tgw-00112233445566aab"
        got = [
            (
                t.outside_ip,
                t.status.value,
                t.accepted_routes,
                t.status_message,
                t.last_status_change.isoformat().replace("+00:00", ".000Z")
                if t.last_status_change
                else None,
            )
            for t in conn.telemetry
        ]
        assert got == [
            (
                w["outside_ip"],
                w["status"],
                w["accepted_route_count"],
                w["status_message"],
                w["last_status_change"],
            )
            for w in want["tunnels"]
        ]
        # the placeholder CustomerGatewayConfiguration is not XML: tunnels come from telemetry
        assert [t.outside_ip for t in conn.tunnels] == ["203.0.113.3", "203.0.113.5"]
        assert all(t.aws_inside_ip is None for t in conn.tunnels)


def test_inside_addresses_from_customer_gateway_configuration() -> None:
    (tunnel,) = tunnels_from_cgw_config("vpn-0a1b2c3d", CGW_XML)
    assert tunnel.outside_ip == "198.51.100.1"
    assert tunnel.inside_cidr == "169.254.10.0/30"
    assert (tunnel.aws_inside_ip, tunnel.router_inside_ip) == ("169.254.10.1", "169.254.10.2")


def test_inside_addresses_from_tunnel_options() -> None:
    conn = parse_vpn_connection(
        {
            "VpnConnectionId": "vpn-1",
            "State": "available",
            "CustomerGatewayId": "cgw-1",
            "Options": {
                "TunnelOptions": [
                    {"OutsideIpAddress": "198.51.100.9", "TunnelInsideCidr": "169.254.20.4/30"}
                ]
            },
        }
    )
    assert conn.tunnels[0].aws_inside_ip == "169.254.20.5"
    assert conn.tunnels[0].router_inside_ip == "169.254.20.6"


@pytest.mark.parametrize(
    "telemetry, message",
    [
        ({"OutsideIpAddress": "198.51.100.1", "Status": "SIDEWAYS"}, "neither UP nor DOWN"),
        ({"OutsideIpAddress": "not-an-ip", "Status": "UP"}, "not an IP address"),
        (
            {"OutsideIpAddress": "198.51.100.1", "Status": "UP", "AcceptedRouteCount": -1},
            "not a count",
        ),
        (
            {"OutsideIpAddress": "198.51.100.1", "Status": "UP", "LastStatusChange": "yesterday"},
            "not a timestamp",
        ),
    ],
)
def test_bad_telemetry_is_a_parse_error(telemetry: dict[str, object], message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse_vpn_connection({"VpnConnectionId": "vpn-1", "VgwTelemetry": [telemetry]})


def _responses(instances: list[dict[str, object]]) -> RegionResponses:
    return RegionResponses(
        instances=instances,
        statuses=[],
        addresses=[{"PublicIp": "127.0.0.7", "InstanceId": "i-00000001"}],
        customer_gateways=[
            {"CustomerGatewayId": "cgw-1", "IpAddress": "127.0.0.7", "State": "available"}
        ],
        vpn_connections=[
            {
                "VpnConnectionId": "vpn-0a1b2c3d",
                "State": "available",
                "CustomerGatewayId": "cgw-1",
                "CustomerGatewayConfiguration": CGW_XML,
                "VgwTelemetry": [
                    {"OutsideIpAddress": "198.51.100.1", "Status": "UP", "AcceptedRouteCount": 1}
                ],
            },
            {"VpnConnectionId": "vpn-deleted", "State": "deleted", "CustomerGatewayId": "cgw-1"},
        ],
    )


def _instance(iid: str, name: str, state: str = "running") -> dict[str, object]:
    return {
        "InstanceId": iid,
        "State": {"Name": state},
        "PrivateIpAddress": "10.0.0.11",
        "Tags": [{"Key": "Name", "Value": name}],
    }


def test_discover_walks_eip_to_cgw_to_connections() -> None:
    views = discover(
        [RouterSelector("r1", "us-east-1", "i-00000001", None)],
        _responses([_instance("i-00000001", "r1")]),
    )
    view = views["r1"]
    assert view.known and view.elastic_ip == "127.0.0.7"
    assert [c.vpn_connection_id for c in view.connections] == ["vpn-0a1b2c3d"]
    assert view.connections[0].customer_gateway_ip == "127.0.0.7"
    assert view.tunnels[0].status is TunnelStatus.UP


def test_tag_selector_must_match_exactly_one_live_instance() -> None:
    sel = [RouterSelector("r1", "us-east-1", None, {"Name": "r1"})]
    ambiguous = discover(
        sel, _responses([_instance("i-00000001", "r1"), _instance("i-00000002", "r1")])
    )
    assert "ambiguous" in (ambiguous["r1"].error or "")
    none = discover(sel, _responses([_instance("i-00000001", "r1", "terminated")]))
    assert "matched no live instance" in (none["r1"].error or "")
    one = discover(
        sel,
        _responses([_instance("i-00000001", "r1"), _instance("i-00000002", "r1", "terminated")]),
    )
    assert one["r1"].known and one["r1"].instance is not None
    assert one["r1"].instance.instance_id == "i-00000001"
