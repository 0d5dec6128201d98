"""AWS's tunnel endpoint maintenance in the emulated AWS (moto has none): the API answers in
botocore's shapes, lifecycle control through ModifyVpnTunnelOptions, the replacement rules."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from vpnwatch.lab.aws_world import EmulatedAws
from vpnwatch.lab.clients import lab_client
from vpnwatch.lab.safety import LabError
from vpnwatch.lab.tunnel_maintenance import EndpointReplaced


class Clocks:
    def __init__(self) -> None:
        self.mono = 1000.0
        self.wall = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.wall += timedelta(seconds=seconds)


@pytest.fixture(scope="module")
def clocks() -> Clocks:
    return Clocks()


@pytest.fixture(scope="module")
def aws(clocks: Clocks) -> Iterator[EmulatedAws]:
    with EmulatedAws(
        refresh_interval=None, monotonic=lambda: clocks.mono, wall_clock=lambda: clocks.wall
    ) as emulated:
        yield emulated


@pytest.fixture
def heard(aws: EmulatedAws) -> list[EndpointReplaced]:
    events: list[EndpointReplaced] = []
    aws.maintenance.add_listener(events.append)
    return events


@pytest.fixture
def ec2(aws: EmulatedAws) -> Any:
    return lab_client("ec2", aws.endpoint_url, total_max_attempts=1)


@pytest.fixture
def tunnel(ec2: Any) -> tuple[str, str, str]:
    """(vpn id, first tunnel's outside IP, second's)."""
    cgw = ec2.create_customer_gateway(BgpAsn=65000, PublicIp="127.0.9.9", Type="ipsec.1")
    vgw = ec2.create_vpn_gateway(Type="ipsec.1", AmazonSideAsn=64512)
    vpn = ec2.create_vpn_connection(
        Type="ipsec.1",
        CustomerGatewayId=cgw["CustomerGateway"]["CustomerGatewayId"],
        VpnGatewayId=vgw["VpnGateway"]["VpnGatewayId"],
        Options={"StaticRoutesOnly": False},
    )["VpnConnection"]["VpnConnectionId"]
    options = ec2.describe_vpn_connections(VpnConnectionIds=[vpn])["VpnConnections"][0]
    ips = [t["OutsideIpAddress"] for t in options["Options"]["TunnelOptions"]]
    return str(vpn), ips[0], ips[1]


def status(ec2: Any, vpn: str, ip: str) -> dict[str, Any]:
    found: dict[str, Any] = ec2.get_vpn_tunnel_replacement_status(
        VpnConnectionId=vpn, VpnTunnelOutsideIpAddress=ip
    )
    return found


def lifecycle(ec2: Any, vpn: str, ip: str, on: bool, skip: bool = True) -> dict[str, Any]:
    answer = ec2.modify_vpn_tunnel_options(
        VpnConnectionId=vpn,
        VpnTunnelOutsideIpAddress=ip,
        TunnelOptions={"EnableTunnelLifecycleControl": on},
        SkipTunnelReplacement=skip,
    )
    found: dict[str, Any] = next(
        t
        for t in answer["VpnConnection"]["Options"]["TunnelOptions"]
        if t["OutsideIpAddress"] == ip
    )
    return found


def test_a_fresh_tunnel_has_no_maintenance_and_lifecycle_control_off(
    ec2: Any, tunnel: tuple[str, str, str]
) -> None:
    vpn, ip, _ = tunnel
    found = status(ec2, vpn, ip)
    assert found["VpnConnectionId"] == vpn and found["VpnTunnelOutsideIpAddress"] == ip
    assert found["CustomerGatewayId"].startswith("cgw-")
    assert found["VpnGatewayId"].startswith("vgw-")
    assert found["MaintenanceDetails"] == {}
    described = ec2.describe_vpn_connections(VpnConnectionIds=[vpn])["VpnConnections"][0]
    options = described["Options"]["TunnelOptions"]
    assert [t["EnableTunnelLifecycleControl"] for t in options] == [False, False]
    assert [t["StartupAction"] for t in options] == ["add", "add"]


def test_pending_maintenance_shows_only_under_lifecycle_control(
    aws: EmulatedAws, ec2: Any, tunnel: tuple[str, str, str], clocks: Clocks
) -> None:
    vpn, ip, _ = tunnel
    aws.maintenance.schedule(vpn, ip, auto_apply_in=3 * 3600)
    assert status(ec2, vpn, ip)["MaintenanceDetails"] == {}
    assert lifecycle(ec2, vpn, ip, True)["EnableTunnelLifecycleControl"] is True
    details = status(ec2, vpn, ip)["MaintenanceDetails"]
    assert details["PendingMaintenance"] == "Available"
    assert details["MaintenanceAutoAppliedAfter"] == clocks.wall + timedelta(hours=3)
    assert "LastMaintenanceApplied" not in details


def test_replace_vpn_tunnel_applies_pending_maintenance(
    aws: EmulatedAws,
    ec2: Any,
    tunnel: tuple[str, str, str],
    clocks: Clocks,
    heard: list[EndpointReplaced],
) -> None:
    vpn, ip, other = tunnel
    lifecycle(ec2, vpn, ip, True)
    aws.maintenance.schedule(vpn, ip, auto_apply_in=86400)
    answer = ec2.replace_vpn_tunnel(
        VpnConnectionId=vpn, VpnTunnelOutsideIpAddress=ip, ApplyPendingMaintenance=True
    )
    assert answer["Return"] is True
    details = status(ec2, vpn, ip)["MaintenanceDetails"]
    assert details == {"LastMaintenanceApplied": clocks.wall}
    assert [(e.outside_ip, e.maintenance, e.aws_initiates) for e in heard] == [(ip, True, False)]
    # one tunnel of a connection at a time: the other waits until this one is back
    with pytest.raises(ClientError) as refused:
        ec2.replace_vpn_tunnel(VpnConnectionId=vpn, VpnTunnelOutsideIpAddress=other)
    assert refused.value.response["Error"]["Code"] == "IncorrectState"
    clocks.advance(aws.maintenance.book.replace_seconds + 0.1)
    ec2.replace_vpn_tunnel(VpnConnectionId=vpn, VpnTunnelOutsideIpAddress=other)
    assert heard[-1].outside_ip == other and heard[-1].maintenance is False  # nothing pending
    assert status(ec2, vpn, other)["MaintenanceDetails"] == {}


def test_startup_action_start_lets_aws_initiate_unless_ikev1(
    aws: EmulatedAws,
    ec2: Any,
    tunnel: tuple[str, str, str],
    clocks: Clocks,
    heard: list[EndpointReplaced],
) -> None:
    vpn, ip, _ = tunnel
    ec2.modify_vpn_tunnel_options(
        VpnConnectionId=vpn, VpnTunnelOutsideIpAddress=ip, TunnelOptions={"StartupAction": "start"}
    )
    clocks.advance(10)
    aws.maintenance.apply(vpn, ip, down_for=2.0)
    clocks.advance(10)
    aws.maintenance.apply(vpn, ip, ikev1=True)
    assert [(e.aws_initiates, e.down_for) for e in heard] == [(True, 2.0), (False, 5.0)]


def test_aws_applies_it_itself_after_the_auto_apply_date(
    aws: EmulatedAws,
    ec2: Any,
    tunnel: tuple[str, str, str],
    clocks: Clocks,
    heard: list[EndpointReplaced],
) -> None:
    vpn, ip, _ = tunnel
    aws.maintenance.schedule(vpn, ip, auto_apply_in=60)
    aws.maintenance.apply_due()
    assert heard == []
    clocks.advance(61)
    aws.maintenance.apply_due()
    assert [(e.outside_ip, e.maintenance) for e in heard] == [(ip, True)]
    assert aws.maintenance.view(vpn, ip)["pending"] is False


def test_bad_requests_are_refused_as_aws_does(ec2: Any, tunnel: tuple[str, str, str]) -> None:
    vpn, ip, _ = tunnel
    with pytest.raises(ClientError) as unknown:
        status(ec2, "vpn-0123456789abcdef0", ip)
    assert unknown.value.response["Error"]["Code"] == "InvalidVpnConnectionID.NotFound"
    with pytest.raises(ClientError) as wrong_ip:
        status(ec2, vpn, "192.0.2.250")
    assert wrong_ip.value.response["Error"]["Code"] == "InvalidParameterValue"
    with pytest.raises(ClientError) as dry:
        ec2.replace_vpn_tunnel(VpnConnectionId=vpn, VpnTunnelOutsideIpAddress=ip, DryRun=True)
    assert dry.value.response["Error"]["Code"] == "DryRunOperation"
    with pytest.raises(ClientError) as startup:
        ec2.modify_vpn_tunnel_options(
            VpnConnectionId=vpn,
            VpnTunnelOutsideIpAddress=ip,
            TunnelOptions={"StartupAction": "sometimes"},
        )
    assert startup.value.response["Error"]["Code"] == "InvalidParameterValue"


def test_turning_lifecycle_control_on_replaces_the_endpoint_unless_skipped(
    aws: EmulatedAws, ec2: Any, tunnel: tuple[str, str, str]
) -> None:
    from vpnwatch.lab.tunnel_modify import Modified

    vpn, ip, _ = tunnel
    changes: list[Modified] = []
    aws.add_tunnel_listener(changes.append)
    lifecycle(ec2, vpn, ip, True, skip=True)
    lifecycle(ec2, vpn, ip, False, skip=False)
    assert [c.replaced for c in changes if c.vpn_connection_id == vpn] == [False, True]


def test_the_lab_controls_refuse_unknown_tunnels(aws: EmulatedAws) -> None:
    with pytest.raises(LabError, match="does not exist"):
        aws.maintenance.schedule("vpn-0000000000000000f", "198.51.100.1", 60)
