"""AWS's side of a connection from TunnelOptions and from the CustomerGatewayConfiguration
XML: the same result either way, AWS's defaults where nothing is reported, clear errors."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tests.render.builders import HUB, SPOKE1, option
from vpnwatch.render import (
    ConnectionIntent,
    RenderInputError,
    RouterIntent,
    VyosVersion,
    connection_params,
    from_customer_gateway_xml,
    from_tunnel_options,
    render_router,
)

FIXTURE = (
    Path(__file__).parents[1] / "fixtures" / "render" / "netbrain-2023-vgw-connection-xml-only.json"
)
REAL = json.loads(FIXTURE.read_text())


def _router(params: Any) -> RouterIntent:
    return RouterIntent(
        "spoke1-r1",
        SPOKE1,
        "10.1.0.11",
        "10.1.0.1",
        params.customer_asn or 65000,
        (ConnectionIntent(params, HUB.name, (HUB.vpc_cidr,)),),
    )


def _real_as_tunnel_options() -> list[dict[str, Any]]:
    """The fixture's two tunnels as TunnelOptions would report them (values read by hand)."""
    return [
        option("3.18.239.122", "169.254.225.8/30", "xlk6lMNzd4CNRP8YUX4PlRLVL4pV1FWS"),
        option("52.15.217.142", "169.254.68.24/30", "KMA_6TXDeJzOJAnrn6gnMEtCO0jbE655"),
    ]


def test_a_real_xml_only_connection_renders_from_its_xml() -> None:
    item = REAL["VpnConnection"]
    assert "TunnelOptions" not in item["Options"]  # as AWS returned it
    params = connection_params(item, aws_asn=64512, customer_asn=64513)
    assert [(t.outside_ip, t.inside_cidr) for t in params.tunnels] == [
        ("3.18.239.122", "169.254.225.8/30"),
        ("52.15.217.142", "169.254.68.24/30"),
    ]
    assert (params.aws_asn, params.customer_asn, params.bgp_holdtime) == (64512, 64513, 30)
    text = "\n".join(render_router(_router(params), "1.4").commands)
    assert "set interfaces vti vti0 address '169.254.225.10/30'" in text
    assert "set protocols bgp neighbor 169.254.68.25 remote-as '64512'" in text
    assert "set vpn ipsec ike-group AWS dead-peer-detection timeout '30'" in text


@pytest.mark.parametrize("version", ["1.3", "1.4", "1.5"])
def test_xml_and_tunnel_options_give_the_same_config(version: VyosVersion) -> None:
    from_xml = from_customer_gateway_xml(
        "vpn-xxxxxxxxxxxxxxxxx", REAL["VpnConnection"]["CustomerGatewayConfiguration"]
    )
    from_options = from_tunnel_options(
        "vpn-xxxxxxxxxxxxxxxxx", _real_as_tunnel_options(), aws_asn=64512, customer_asn=64513
    )
    assert from_options == from_xml
    assert render_router(_router(from_options), version) == render_router(  # type: ignore[arg-type]
        _router(from_xml),
        version,  # type: ignore[arg-type]
    )


def test_tunnel_options_win_when_complete() -> None:
    item = copy.deepcopy(REAL["VpnConnection"])
    options = _real_as_tunnel_options()
    options[0]["PreSharedKey"] = "Newer.key_from_options"
    item["Options"]["TunnelOptions"] = options
    params = connection_params(item, aws_asn=64512, customer_asn=64513)
    assert params.tunnels[0].psk == "Newer.key_from_options"
    # incomplete options (no key: kept in Secrets Manager) fall back to the XML
    del options[0]["PreSharedKey"]
    params = connection_params(item, aws_asn=64512, customer_asn=64513)
    assert params.tunnels[0].psk == "xlk6lMNzd4CNRP8YUX4PlRLVL4pV1FWS"


def test_reported_algorithms_choose_the_proposal() -> None:
    tunnel = option(
        "198.51.100.7",
        "169.254.30.0/30",
        "Key.options_1",
        Phase1EncryptionAlgorithms=[{"Value": "AES256-GCM-16"}, {"Value": "AES256"}],
        Phase1IntegrityAlgorithms=[{"Value": "SHA2-512"}, {"Value": "SHA2-256"}],
        Phase1DHGroupNumbers=[{"Value": 20}, {"Value": 14}],
        Phase2DHGroupNumbers=[{"Value": 19}],
        IkeVersions=[{"Value": "ikev2"}],
        Phase1LifetimeSeconds=14400,
        DpdTimeoutSeconds=40,
    )
    params = from_tunnel_options("vpn-1", [tunnel], aws_asn=64512, customer_asn=65000)
    p1, p2 = params.tunnels[0].phase1, params.tunnels[0].phase2
    # AWS evaluates the lowest permitted value first
    assert (p1.encryption, p1.integrity, p1.dh_group) == ("aes256", "sha256", 14)
    assert (p1.lifetime, p1.dpd_timeout, p1.ike_version) == (14400, 40, "ikev2")
    assert (p2.encryption, p2.integrity, p2.dh_group, p2.lifetime) == ("aes128", "sha1", 19, 3600)
    text = "\n".join(render_router(_router(params), "1.3").commands)
    assert "set vpn ipsec esp-group AWS pfs 'dh-group19'" in text
    assert "set vpn ipsec ike-group AWS key-exchange 'ikev2'" in text
    assert "set vpn ipsec ike-group AWS dead-peer-detection timeout '40'" in text


def test_tunnels_with_different_options_get_their_own_groups() -> None:
    params = from_tunnel_options(
        "vpn-1",
        [
            option("198.51.100.1", "169.254.30.0/30", "Key.one_1234"),
            option(
                "198.51.100.2",
                "169.254.30.4/30",
                "Key.two_1234",
                Phase1EncryptionAlgorithms=[{"Value": "AES256"}],
            ),
        ],
        aws_asn=64512,
        customer_asn=65000,
    )
    text = "\n".join(render_router(_router(params), "1.4").commands)
    assert "set vpn ipsec ike-group AWS-1 proposal 1 encryption 'aes128'" in text
    assert "set vpn ipsec ike-group AWS-2 proposal 1 encryption 'aes256'" in text
    assert "set vpn ipsec site-to-site peer vpn-1-2 ike-group 'AWS-2'" in text
    assert "set vpn ipsec site-to-site peer vpn-1-1 vti esp-group 'AWS'" in text


def _broken_xml(old: str, new: str) -> dict[str, Any]:
    item = copy.deepcopy(REAL["VpnConnection"])
    assert old in item["CustomerGatewayConfiguration"]
    item["CustomerGatewayConfiguration"] = item["CustomerGatewayConfiguration"].replace(old, new)
    return dict(item)


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (_broken_xml("</vpn_connection>", ""), "is not valid XML"),
        (_broken_xml("<ipsec_tunnel>", "<tunnel>"), "not valid XML"),
        (_broken_xml("aes-128-cbc", "blowfish"), "unknown ike/encryption_protocol 'blowfish'"),
        (_broken_xml("<retries>3</retries>", "<retries>x</retries>"), "is not a number"),
        (
            _broken_xml("<ip_address>169.254.225.10</ip_address>", "<ip_address></ip_address>"),
            "lacks customer_gateway/tunnel_inside_address/ip_address",
        ),
        (
            _broken_xml("<pre_shared_key>xlk6lMNzd4CNRP8YUX4PlRLVL4pV1FWS</pre_shared_key>", ""),
            "lacks ike/pre_shared_key",
        ),
        (_broken_xml("169.254.225.9", "169.254.225.13"), "inside addresses are not AWS's"),
        (
            {"VpnConnectionId": "vpn-9", "Options": {"StaticRoutesOnly": False}},
            "vpn-9: no TunnelOptions and no CustomerGatewayConfiguration",
        ),
        (
            {
                "VpnConnectionId": "vpn-9",
                "Options": {"TunnelOptions": [{"OutsideIpAddress": "1.2.3.4"}]},
            },
            "vpn-9: incomplete TunnelOptions and no CustomerGatewayConfiguration",
        ),
    ],
)
def test_unrenderable_answers_are_clear_errors_without_keys(
    item: dict[str, Any], message: str
) -> None:
    with pytest.raises(RenderInputError) as exc:
        connection_params(item, aws_asn=64512, customer_asn=64513)
    assert message in str(exc.value)
    assert "xlk6l" not in str(exc.value) and "KMA_6" not in str(exc.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"TunnelInsideCidr": "169.254.1.0/29"}, "is not a /30 in 169.254.0.0/16"),
        ({"TunnelInsideCidr": "banana"}, "is not a network"),
        ({"OutsideIpAddress": "2001:db8::1"}, "is not IPv4"),
        ({"Phase1EncryptionAlgorithms": [{"Value": "DES"}]}, "unknown value 'DES'"),
        ({"Phase2DHGroupNumbers": [{"Value": 1}]}, "unknown group 1"),
        ({"Phase1LifetimeSeconds": "long"}, "is not a number of seconds"),
    ],
)
def test_bad_tunnel_options_are_clear_errors(change: dict[str, Any], message: str) -> None:
    tunnel = option("198.51.100.1", "169.254.30.0/30", "Secret.key_9") | change
    with pytest.raises(RenderInputError, match=message) as exc:
        from_tunnel_options("vpn-1", [tunnel], aws_asn=64512, customer_asn=65000)
    assert "Secret.key_9" not in str(exc.value)


def test_tunnel_options_need_the_gateway_asn() -> None:
    item = {"VpnConnectionId": "vpn-2", "Options": {"TunnelOptions": _real_as_tunnel_options()}}
    with pytest.raises(RenderInputError, match="Amazon-side ASN"):
        connection_params(item, aws_asn=None, customer_asn=65000)
