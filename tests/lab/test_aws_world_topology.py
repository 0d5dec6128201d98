"""The article's world as the emulated AWS serves it over HTTP, read with plain boto3."""

from __future__ import annotations

import ipaddress
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import pytest

from tests.lab.conftest import ManualMonotonic, ManualWallClock
from vpnwatch.configfile import load_config
from vpnwatch.lab.clients import lab_client
from vpnwatch.lab.runtime import ControlClient
from vpnwatch.lab.telemetry import TunnelRef, TunnelState
from vpnwatch.lab.topology import Connection
from vpnwatch.lab.world import LabWorld


@pytest.fixture(scope="module")
def ec2(lab_world: LabWorld) -> Any:
    return lab_client("ec2", lab_world.endpoint_url, total_max_attempts=1)


@pytest.fixture
def restore_tunnels(lab_world: LabWorld) -> Iterator[None]:
    """Tests that flip tunnels hand them back UP and without a source afterwards."""
    yield
    lab_world.aws.set_telemetry_source(None)
    for conn in lab_world.topology.connections:
        for tunnel in conn.tunnels:
            lab_world.aws.set_tunnel(conn.id, tunnel.outside_ip, "UP")
            lab_world.aws.set_tunnel(conn.id, tunnel.outside_ip, None)


def _describe(ec2: Any, vpn_id: str) -> dict[str, Any]:
    result: dict[str, Any] = ec2.describe_vpn_connections(VpnConnectionIds=[vpn_id])[
        "VpnConnections"
    ][0]
    return result


def _telemetry(ec2: Any, vpn_id: str) -> dict[str, dict[str, Any]]:
    return {t["OutsideIpAddress"]: t for t in _describe(ec2, vpn_id)["VgwTelemetry"]}


def test_topology_has_the_articles_shape(lab_world: LabWorld) -> None:
    topo = lab_world.topology
    assert [r.name for r in topo.routers] == [
        "hub-r1", "hub-r2", "spoke1-r1", "spoke1-r2", "spoke2-r1", "spoke2-r2",
    ]  # fmt: skip
    assert [(s.name, s.role, s.cidr) for s in topo.sites] == [
        ("hub", "hub", "10.0.0.0/16"),
        ("spoke1", "spoke", "10.1.0.0/16"),
        ("spoke2", "spoke", "10.2.0.0/16"),
    ]
    assert len(topo.connections) == 8
    assert len(topo.tunnels) == 16
    assert len({t.outside_ip for t in topo.tunnels}) == 16
    assert len({t.inside_cidr for t in topo.tunnels}) == 16
    assert len({t.psk for t in topo.tunnels}) == 16
    # a hub router terminates one connection per spoke VGW, a spoke router one from the hub
    for router in topo.routers:
        conns = topo.connections_of(router.name)
        gateway_sites = sorted(c.gateway_site for c in conns)
        expected = ["spoke1", "spoke2"] if router.role == "hub" else ["hub"]
        assert gateway_sites == expected, router.name


def test_tunnel_addresses_are_documentation_and_link_local(lab_world: LabWorld) -> None:
    docs = [ipaddress.ip_network(n) for n in ("198.51.100.0/24", "203.0.113.0/24", "192.0.2.0/24")]
    for tunnel in lab_world.topology.tunnels:
        assert any(ipaddress.ip_address(tunnel.outside_ip) in net for net in docs)
        inside = ipaddress.IPv4Network(tunnel.inside_cidr)
        assert inside.prefixlen == 30
        assert inside.subnet_of(ipaddress.IPv4Network("169.254.0.0/16"))
        assert tunnel.aws_inside_ip == str(inside[1])
        assert tunnel.router_inside_ip == str(inside[2])
        assert tunnel.psk not in repr(tunnel)


def test_routers_are_instances_as_aws_describes_them(lab_world: LabWorld, ec2: Any) -> None:
    topo = lab_world.topology
    ids = [r.instance_id for r in topo.routers]
    described = {
        i["InstanceId"]: i
        for res in ec2.describe_instances(InstanceIds=ids)["Reservations"]
        for i in res["Instances"]
    }
    addresses = {a["PublicIp"]: a for a in ec2.describe_addresses()["Addresses"]}
    gateways = {
        g["CustomerGatewayId"]: g for g in ec2.describe_customer_gateways()["CustomerGateways"]
    }
    for router in topo.routers:
        inst = described[router.instance_id]
        site = topo.site(router.site)
        assert inst["State"]["Name"] == "running"
        assert inst["PrivateIpAddress"] == router.private_ip
        assert inst["SubnetId"] == site.subnet_id
        tags = {t["Key"]: t["Value"] for t in inst["Tags"]}
        assert tags["Name"] == router.name
        assert tags["vpnwatch:router"] == router.name
        assert tags["vpnwatch:site"] == router.site
        assert tags["vpnwatch:managed"] == "true"
        attr = ec2.describe_instance_attribute(
            InstanceId=router.instance_id, Attribute="sourceDestCheck"
        )
        assert attr["SourceDestCheck"]["Value"] is False
        eni = ec2.describe_network_interfaces(NetworkInterfaceIds=[router.eni_id])
        assert eni["NetworkInterfaces"][0]["SourceDestCheck"] is False
        assert addresses[router.public_ip]["InstanceId"] == router.instance_id
        assert addresses[router.public_ip]["AllocationId"] == router.allocation_id
        cgw = gateways[router.customer_gateway_id]
        assert (cgw["IpAddress"], cgw["BgpAsn"]) == (router.public_ip, "65000")
    assert {r.private_ip for r in topo.routers if r.site == "hub"} == {"10.0.0.11", "10.0.0.12"}


def test_vpn_gateways_are_attached_to_their_vpcs(lab_world: LabWorld, ec2: Any) -> None:
    for site in lab_world.topology.sites:
        gw = ec2.describe_vpn_gateways(VpnGatewayIds=[site.vpn_gateway_id])["VpnGateways"][0]
        assert gw["VpcAttachments"] == [{"State": "attached", "VpcId": site.vpc_id}]


def _text(node: ET.Element, path: str) -> str:
    found = node.findtext(path)
    assert found is not None, path
    return found.strip()


def _check_config_xml(conn: Connection, described: dict[str, Any], vgw_asn: str) -> None:
    root = ET.fromstring(described["CustomerGatewayConfiguration"])
    assert root.get("id") == conn.id
    assert _text(root, "customer_gateway_id") == conn.customer_gateway_id
    assert _text(root, "vpn_gateway_id") == conn.gateway_id
    blocks = root.findall("ipsec_tunnel")
    assert len(blocks) == len(conn.tunnels) == 2
    for block, tunnel in zip(blocks, conn.tunnels, strict=True):
        cgw, vgw = "customer_gateway/", "vpn_gateway/"
        assert _text(block, cgw + "tunnel_outside_address/ip_address") == conn.customer_gateway_ip
        assert _text(block, vgw + "tunnel_outside_address/ip_address") == tunnel.outside_ip
        assert _text(block, cgw + "tunnel_inside_address/ip_address") == tunnel.router_inside_ip
        assert _text(block, vgw + "tunnel_inside_address/ip_address") == tunnel.aws_inside_ip
        assert _text(block, cgw + "bgp/asn") == "65000"
        assert _text(block, vgw + "bgp/asn") == vgw_asn
        assert _text(block, "ike/pre_shared_key") == tunnel.psk


def test_vpn_connections_carry_options_and_matching_config(lab_world: LabWorld, ec2: Any) -> None:
    asns = {
        g["VpnGatewayId"]: str(g["AmazonSideAsn"])
        for g in ec2.describe_vpn_gateways()["VpnGateways"]
    }
    for conn in lab_world.topology.connections:
        described = _describe(ec2, conn.id)
        assert described["CustomerGatewayId"] == conn.customer_gateway_id
        assert described["VpnGatewayId"] == conn.gateway_id
        assert described["Options"]["StaticRoutesOnly"] is False
        options = described["Options"]["TunnelOptions"]
        assert [
            (o["OutsideIpAddress"], o["TunnelInsideCidr"], o["PreSharedKey"]) for o in options
        ] == [(t.outside_ip, t.inside_cidr, t.psk) for t in conn.tunnels]
        _check_config_xml(conn, described, asns[conn.gateway_id])


def test_every_tunnel_starts_up_with_one_route(lab_world: LabWorld, ec2: Any) -> None:
    described = ec2.describe_vpn_connections()["VpnConnections"]
    telemetry = [t for c in described for t in c["VgwTelemetry"]]
    assert len(telemetry) == 16
    # the simulated routers behind them advertise one prefix each, as AWS words it
    assert {(t["Status"], t["AcceptedRouteCount"], t["StatusMessage"]) for t in telemetry} == {
        ("UP", 1, "1 BGP ROUTES")
    }
    assert {t["OutsideIpAddress"] for t in telemetry} == {
        t.outside_ip for t in lab_world.topology.tunnels
    }


@pytest.mark.usefixtures("restore_tunnels")
def test_set_tunnel_down_moves_last_status_change_only_on_change(
    lab_world: LabWorld, ec2: Any, wall_clock: ManualWallClock
) -> None:
    conn = lab_world.topology.connections[0]
    down, other = conn.tunnels[0].outside_ip, conn.tunnels[1].outside_ip
    before = _telemetry(ec2, conn.id)
    wall_clock.advance(60)
    lab_world.aws.set_tunnel(conn.id, down, "DOWN")
    after = _telemetry(ec2, conn.id)
    assert (after[down]["Status"], after[down]["AcceptedRouteCount"]) == ("DOWN", 0)
    assert after[down]["StatusMessage"] == "IPSEC IS DOWN"
    assert after[down]["LastStatusChange"] > before[down]["LastStatusChange"]
    assert after[other] == before[other]
    wall_clock.advance(60)
    lab_world.aws.set_tunnel(conn.id, down, "DOWN")  # no change of status
    again = _telemetry(ec2, conn.id)
    assert again[down]["LastStatusChange"] == after[down]["LastStatusChange"]
    lab_world.aws.set_tunnel(conn.id, down, "UP")
    up = _telemetry(ec2, conn.id)
    assert (up[down]["Status"], up[down]["StatusMessage"]) == ("UP", "")
    assert up[down]["LastStatusChange"] > after[down]["LastStatusChange"]


@pytest.mark.usefixtures("restore_tunnels")
def test_source_verdict_shows_after_the_detection_delay(
    lab_world: LabWorld, ec2: Any, monotonic: ManualMonotonic
) -> None:
    dead = lab_world.topology.router("spoke1-r1")
    asked: list[TunnelRef] = []

    def routers(ref: TunnelRef) -> TunnelState | None:
        asked.append(ref)
        return TunnelState.down() if ref.customer_gateway_ip == dead.public_ip else TunnelState.up()

    lab_world.aws.set_telemetry_source(routers, detection_delay=1.0)
    lab_world.aws.refresh_telemetry()  # the source now says DOWN; AWS has not noticed yet
    conn = lab_world.topology.connections_of(dead.name)[0]
    assert {t["Status"] for t in _telemetry(ec2, conn.id).values()} == {"UP"}
    monotonic.advance(0.5)
    assert {t["Status"] for t in _telemetry(ec2, conn.id).values()} == {"UP"}
    monotonic.advance(0.5)
    assert {t["Status"] for t in _telemetry(ec2, conn.id).values()} == {"DOWN"}
    others = [c for c in lab_world.topology.connections if c.router != dead.name]
    assert {t["Status"] for c in others for t in _telemetry(ec2, c.id).values()} == {"UP"}
    assert {r.vpn_connection_id for r in asked} == {c.id for c in lab_world.topology.connections}
    # a manual override wins over the source at once
    lab_world.aws.set_tunnel(conn.id, conn.tunnels[0].outside_ip, "UP")
    assert _telemetry(ec2, conn.id)[conn.tunnels[0].outside_ip]["Status"] == "UP"


def test_state_reports_the_eip_holder_after_a_move(
    lab_world: LabWorld, ec2: Any, monotonic: ManualMonotonic
) -> None:
    router = lab_world.topology.router("hub-r2")
    site = lab_world.topology.site(router.site)
    spare = ec2.run_instances(
        ImageId=router.image_id, MinCount=1, MaxCount=1, SubnetId=site.subnet_id
    )["Instances"][0]["InstanceId"]
    monotonic.advance(lab_world.realism.pending_delay)  # launched: briefly unknown, then pending
    try:
        ec2.associate_address(
            AllocationId=router.allocation_id, InstanceId=spare, AllowReassociation=True
        )
        by_id = {i["instance_id"]: i for i in lab_world.state()["instances"]}
        assert by_id[spare]["public_ip"] == router.public_ip
        assert by_id[router.instance_id]["public_ip"] is None
        assert lab_world.aws.eip_holder(router.public_ip) == spare
    finally:
        ec2.associate_address(
            AllocationId=router.allocation_id,
            InstanceId=router.instance_id,
            AllowReassociation=True,
        )
        ec2.terminate_instances(InstanceIds=[spare])
    by_id = {i["instance_id"]: i for i in lab_world.state()["instances"]}
    assert by_id[router.instance_id]["public_ip"] == router.public_ip
    assert by_id[spare]["state"] == "terminated"


def test_source_dest_check_is_one_flag_as_in_aws(lab_world: LabWorld, ec2: Any) -> None:
    router = lab_world.topology.router("spoke2-r2")

    def flags() -> tuple[bool, bool]:
        inst = ec2.describe_instance_attribute(
            InstanceId=router.instance_id, Attribute="sourceDestCheck"
        )["SourceDestCheck"]["Value"]
        eni = ec2.describe_network_interfaces(NetworkInterfaceIds=[router.eni_id])
        return inst, eni["NetworkInterfaces"][0]["SourceDestCheck"]

    try:
        ec2.modify_instance_attribute(
            InstanceId=router.instance_id, SourceDestCheck={"Value": True}
        )
        assert flags() == (True, True)
        ec2.modify_network_interface_attribute(
            NetworkInterfaceId=router.eni_id, SourceDestCheck={"Value": False}
        )
        assert flags() == (False, False)
    finally:
        ec2.modify_instance_attribute(
            InstanceId=router.instance_id, SourceDestCheck={"Value": False}
        )


def test_state_lists_routers_and_tunnels(lab_world: LabWorld) -> None:
    state = ControlClient(lab_world.endpoint_url).state()
    routers = {i["router"]: i for i in state["instances"] if i["state"] == "running"}
    for router in lab_world.topology.routers:
        entry = routers[router.name]
        assert entry["instance_id"] == router.instance_id
        assert entry["private_ip"] == router.private_ip
        assert entry["public_ip"] == router.public_ip
        assert entry["source_dest_check"] is False
    conns = {c["id"]: c for c in state["vpn_connections"]}
    for conn in lab_world.topology.connections:
        assert conns[conn.id]["customer_gateway_ip"] == conn.customer_gateway_ip
        assert [(t["outside_ip"], t["status"]) for t in conns[conn.id]["tunnels"]] == [
            (t.outside_ip, "UP") for t in conn.tunnels
        ]
    assert state["config_path"] == str(lab_world.config_path)
    text = str(state)
    assert not any(t.psk in text for t in lab_world.topology.tunnels)


def test_written_config_is_valid_for_the_daemon(lab_world: LabWorld) -> None:
    config = load_config(lab_world.config_path)
    assert config.aws.endpoint_url == lab_world.endpoint_url
    assert config.health.interval == 2.0
    assert config.metrics.listen == "127.0.0.1:9810"
    assert (config.managed_tag.key, config.managed_tag.value) == ("vpnwatch:managed", "true")
    routers = {r.name: (s.name, s.role, r.instance_id) for s in config.sites for r in s.routers}
    assert routers == {r.name: (r.site, r.role, r.instance_id) for r in lab_world.topology.routers}
