"""Small builders of real model objects for the pure-function tests."""

from __future__ import annotations

from datetime import UTC, datetime

from vpnwatch.model import (
    BgpNeighbor,
    BgpSummary,
    IkeSa,
    IkeSaList,
    InstanceInfo,
    IpsecSa,
    IpsecSaList,
    RouterAwsView,
    RouterObservation,
    RouterSshView,
    Snapshot,
    TunnelInfo,
    TunnelTelemetry,
    VpnConnectionInfo,
)
from vpnwatch.vocabulary import SshErrorKind, TunnelStatus

OUTSIDE = ("198.51.100.1", "198.51.100.2")
AWS_INSIDE = ("169.254.10.1", "169.254.10.5")


def aws_view(
    name: str,
    statuses: tuple[str, ...] = ("UP", "UP"),
    *,
    error: str | None = None,
    state: str = "running",
    routes: int = 1,
) -> RouterAwsView:
    if error:
        return RouterAwsView(name, "us-east-1", None, None, (), error=error)
    tunnels = tuple(
        TunnelInfo(
            "vpn-1",
            OUTSIDE[i],
            f"{AWS_INSIDE[i][:-1]}0/30",
            AWS_INSIDE[i],
            AWS_INSIDE[i][:-1] + "2",
        )
        for i in range(len(statuses))
    )
    telemetry = tuple(
        TunnelTelemetry(
            "vpn-1",
            OUTSIDE[i],
            TunnelStatus(s),
            "" if s == "UP" else "IPSEC IS DOWN",
            routes if s == "UP" else 0,
            datetime(2026, 1, 1, tzinfo=UTC),
        )
        for i, s in enumerate(statuses)
    )
    instance = InstanceInfo("i-00000001", state, "10.0.0.11", "127.0.0.7", "subnet-1", False)
    conn = VpnConnectionInfo(
        "vpn-1", "available", "cgw-1", "127.0.0.7", "vgw-1", tunnels, telemetry
    )
    return RouterAwsView(name, "us-east-1", instance, "127.0.0.7", (conn,))


def ssh_view(
    name: str,
    bgp_up: tuple[bool, ...] = (True, True),
    ipsec_up: tuple[bool, ...] = (True, True),
    *,
    reachable: bool = True,
    error_kind: SshErrorKind | None = None,
) -> RouterSshView:
    if not reachable:
        return RouterSshView(
            name, False, "connection refused", error_kind or SshErrorKind.UNREACHABLE
        )
    if error_kind is not None:
        return RouterSshView(name, True, "garbage", error_kind)
    neighbors = tuple(
        BgpNeighbor(
            AWS_INSIDE[i],
            64512,
            "Established" if up else "Active",
            1 if up else None,
            100 if up else None,
            "IPv4 Unicast",
            None,
        )
        for i, up in enumerate(bgp_up)
    )
    ike = tuple(
        IkeSa(
            OUTSIDE[i],
            "10.0.0.11",
            "up" if up else "down",
            "IKEv1",
            "aes128",
            "sha1",
            "2",
            10,
            28800,
        )
        for i, up in enumerate(ipsec_up)
    )
    child = tuple(
        IpsecSa(f"peer-{OUTSIDE[i]}-tunnel-vti", OUTSIDE[i], "up" if up else "down", 10, 10, 10)
        for i, up in enumerate(ipsec_up)
    )
    return RouterSshView(
        name,
        True,
        None,
        None,
        BgpSummary("10.0.0.11", 65000, neighbors),
        IkeSaList(ike),
        IpsecSaList(child),
    )


def observation(
    name: str = "r1",
    aws: RouterAwsView | None = None,
    ssh: RouterSshView | None = None,
    site: str = "hub",
) -> RouterObservation:
    return RouterObservation(name, site, "hub", aws or aws_view(name), ssh)


def snapshot(*observations: RouterObservation, at: float = 1000.0) -> Snapshot:
    return Snapshot(taken_at=at, duration_seconds=0.1, routers=tuple(observations))
