"""TunnelOptions and ModifyVpnTunnelOptions in the emulated AWS (moto drops the first and
answers the second with a 500): what DescribeVpnConnections reports agrees with the
CustomerGatewayConfiguration XML, before and after a change."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any
from xml.etree import ElementTree

import pytest
from botocore.exceptions import ClientError

from vpnwatch.lab.aws_world import EmulatedAws
from vpnwatch.lab.clients import lab_client
from vpnwatch.lab.tunnel_modify import Modified


@pytest.fixture(scope="module")
def aws() -> Iterator[EmulatedAws]:
    with EmulatedAws(refresh_interval=None) as emulated:
        yield emulated


@pytest.fixture
def ec2(aws: EmulatedAws) -> Any:
    return lab_client("ec2", aws.endpoint_url, total_max_attempts=1)


@pytest.fixture
def vpn_id(ec2: Any) -> str:
    cgw = ec2.create_customer_gateway(BgpAsn=65000, PublicIp="127.0.8.8", Type="ipsec.1")
    vgw = ec2.create_vpn_gateway(Type="ipsec.1", AmazonSideAsn=64512)
    return str(
        ec2.create_vpn_connection(
            Type="ipsec.1",
            CustomerGatewayId=cgw["CustomerGateway"]["CustomerGatewayId"],
            VpnGatewayId=vgw["VpnGateway"]["VpnGatewayId"],
            Options={"StaticRoutesOnly": False},
        )["VpnConnection"]["VpnConnectionId"]
    )


def _described(ec2: Any, vpn_id: str) -> dict[str, Any]:
    found: dict[str, Any] = ec2.describe_vpn_connections(VpnConnectionIds=[vpn_id])[
        "VpnConnections"
    ][0]
    return found


def _xml_tunnels(xml: str) -> dict[str, dict[str, str | None]]:
    root = ElementTree.fromstring(xml)
    return {
        str(t.findtext("vpn_gateway/tunnel_outside_address/ip_address")): {
            "psk": t.findtext("ike/pre_shared_key"),
            "aws_inside": t.findtext("vpn_gateway/tunnel_inside_address/ip_address"),
            "router_inside": t.findtext("customer_gateway/tunnel_inside_address/ip_address"),
            "ike_encryption": t.findtext("ike/encryption_protocol"),
            "esp_group": t.findtext("ipsec/perfect_forward_secrecy"),
            "dpd_retries": t.findtext("ipsec/dead_peer_detection/retries"),
        }
        for t in root.iter("ipsec_tunnel")
    }


def test_tunnel_options_agree_with_the_xml(ec2: Any, vpn_id: str) -> None:
    described = _described(ec2, vpn_id)
    options = described["Options"]["TunnelOptions"]
    xml = _xml_tunnels(described["CustomerGatewayConfiguration"])
    assert len(options) == 2 and set(xml) == {o["OutsideIpAddress"] for o in options}
    for option in options:
        tunnel = xml[option["OutsideIpAddress"]]
        assert tunnel["psk"] == option["PreSharedKey"]
        net = ipaddress.ip_network(option["TunnelInsideCidr"])
        assert (tunnel["aws_inside"], tunnel["router_inside"]) == (str(net[1]), str(net[2]))
        # nothing set: AWS reports no algorithms, its defaults apply
        assert "Phase1EncryptionAlgorithms" not in option
        assert tunnel["ike_encryption"] == "aes-128-cbc" and tunnel["esp_group"] == "group2"


def test_modify_changes_the_key_everywhere(aws: EmulatedAws, ec2: Any, vpn_id: str) -> None:
    heard: list[Modified] = []
    aws.add_tunnel_listener(heard.append)
    first = _described(ec2, vpn_id)["Options"]["TunnelOptions"][0]
    answer = ec2.modify_vpn_tunnel_options(
        VpnConnectionId=vpn_id,
        VpnTunnelOutsideIpAddress=first["OutsideIpAddress"],
        TunnelOptions={"PreSharedKey": "Rotated.key_42"},
    )
    changed = answer["VpnConnection"]["Options"]["TunnelOptions"][0]
    assert changed["PreSharedKey"] == "Rotated.key_42"
    assert answer["VpnConnection"]["VpnConnectionId"] == vpn_id
    described = _described(ec2, vpn_id)
    assert described["Options"]["TunnelOptions"][0]["PreSharedKey"] == "Rotated.key_42"
    assert described["Options"]["TunnelOptions"][1]["PreSharedKey"] != "Rotated.key_42"
    xml = _xml_tunnels(described["CustomerGatewayConfiguration"])
    assert xml[first["OutsideIpAddress"]]["psk"] == "Rotated.key_42"
    assert [(m.vpn_connection_id, m.tunnel.psk) for m in heard] == [(vpn_id, "Rotated.key_42")]


def test_modify_moves_the_inside_cidr_and_algorithms(ec2: Any, vpn_id: str) -> None:
    second = _described(ec2, vpn_id)["Options"]["TunnelOptions"][1]
    ec2.modify_vpn_tunnel_options(
        VpnConnectionId=vpn_id,
        VpnTunnelOutsideIpAddress=second["OutsideIpAddress"],
        TunnelOptions={
            "TunnelInsideCidr": "169.254.123.4/30",
            "Phase1EncryptionAlgorithms": [{"Value": "AES256"}],
            "Phase2DHGroupNumbers": [{"Value": 14}],
            "DPDTimeoutSeconds": 40,
        },
    )
    option = _described(ec2, vpn_id)["Options"]["TunnelOptions"][1]
    assert option["TunnelInsideCidr"] == "169.254.123.4/30"
    assert option["Phase1EncryptionAlgorithms"] == [{"Value": "AES256"}]
    assert option["Phase2DHGroupNumbers"] == [{"Value": 14}]
    assert option["DpdTimeoutSeconds"] == 40
    xml = _xml_tunnels(_described(ec2, vpn_id)["CustomerGatewayConfiguration"])
    assert xml[second["OutsideIpAddress"]] | {"psk": None} == {
        "psk": None,
        "aws_inside": "169.254.123.5",
        "router_inside": "169.254.123.6",
        "ike_encryption": "aes-256-cbc",
        "esp_group": "group14",
        "dpd_retries": "4",
    }


@pytest.mark.parametrize(
    ("options", "code"),
    [
        ({"PreSharedKey": "0starts-with-zero"}, "InvalidParameterValue"),
        ({"PreSharedKey": "short"}, "InvalidParameterValue"),
        ({"TunnelInsideCidr": "169.254.169.252/30"}, "InvalidParameterValue"),
        ({"TunnelInsideCidr": "10.0.0.0/30"}, "InvalidParameterValue"),
        ({"Phase1DHGroupNumbers": [{"Value": 5}]}, "InvalidParameterValue"),
        ({"Phase1LifetimeSeconds": 100}, "InvalidParameterValue"),
    ],
)
def test_modify_refuses_what_aws_refuses(
    ec2: Any, vpn_id: str, options: dict[str, Any], code: str
) -> None:
    before = _described(ec2, vpn_id)["Options"]["TunnelOptions"]
    with pytest.raises(ClientError) as exc:
        ec2.modify_vpn_tunnel_options(
            VpnConnectionId=vpn_id,
            VpnTunnelOutsideIpAddress=before[0]["OutsideIpAddress"],
            TunnelOptions=options,
        )
    assert exc.value.response["Error"]["Code"] == code
    assert _described(ec2, vpn_id)["Options"]["TunnelOptions"] == before


def test_modify_refuses_unknown_tunnels_and_taken_cidrs(ec2: Any, vpn_id: str) -> None:
    first, second = _described(ec2, vpn_id)["Options"]["TunnelOptions"]
    with pytest.raises(ClientError) as exc:
        ec2.modify_vpn_tunnel_options(
            VpnConnectionId="vpn-0123456789abcdef0",
            VpnTunnelOutsideIpAddress=first["OutsideIpAddress"],
            TunnelOptions={"PreSharedKey": "valid_key_123"},
        )
    assert exc.value.response["Error"]["Code"] == "InvalidVpnConnectionID.NotFound"
    with pytest.raises(ClientError) as exc:
        ec2.modify_vpn_tunnel_options(
            VpnConnectionId=vpn_id,
            VpnTunnelOutsideIpAddress="192.0.2.250",
            TunnelOptions={"PreSharedKey": "valid_key_123"},
        )
    assert exc.value.response["Error"]["Code"] == "InvalidParameterValue"
    with pytest.raises(ClientError) as exc:
        ec2.modify_vpn_tunnel_options(
            VpnConnectionId=vpn_id,
            VpnTunnelOutsideIpAddress=first["OutsideIpAddress"],
            TunnelOptions={"TunnelInsideCidr": second["TunnelInsideCidr"]},
        )
    assert exc.value.response["Error"]["Code"] == "InvalidParameterValue"
    with pytest.raises(ClientError) as exc:
        ec2.modify_vpn_tunnel_options(
            VpnConnectionId=vpn_id,
            VpnTunnelOutsideIpAddress=first["OutsideIpAddress"],
            TunnelOptions={"PreSharedKey": "valid_key_123"},
            DryRun=True,
        )
    assert exc.value.response["Error"]["Code"] == "DryRunOperation"
    assert _described(ec2, vpn_id)["Options"]["TunnelOptions"][0] == first
