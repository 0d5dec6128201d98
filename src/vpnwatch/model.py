"""Frozen observations and verdicts shared by every layer.

Field names of the parser results are the JSON keys of the `vpnwatch parse` contract
(docs/architecture.md, "Contracts"), so `dataclasses.asdict` gives the documented JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from vpnwatch.vocabulary import FailureKind, Health, SshErrorKind, TunnelStatus

# ---------------------------------------------------------------- parser results


@dataclass(frozen=True)
class BgpNeighbor:
    neighbor: str
    remote_as: int | None
    state: str  # "Established" or the router's own word(s): "Active", "Idle (Admin)", ...
    prefixes_received: int | None  # None unless Established
    uptime_seconds: int | None  # None unless Established
    address_family: str | None  # "IPv4 Unicast" (text) or "ipv4Unicast" (FRR JSON); None if unsaid
    description: str | None

    @property
    def established(self) -> bool:
        return self.state == "Established"


@dataclass(frozen=True)
class BgpSummary:
    router_id: str | None
    local_as: int | None
    neighbors: tuple[BgpNeighbor, ...]


@dataclass(frozen=True)
class IkeSa:
    peer: str
    local: str | None
    state: str  # "up" | "down"
    ike_version: str | None  # "IKEv1" | "IKEv2"
    encryption: str | None
    hash: str | None
    dh_group: str | None
    uptime_seconds: int | None
    lifetime_seconds: int | None


@dataclass(frozen=True)
class IkeSaList:
    ike_sas: tuple[IkeSa, ...]


@dataclass(frozen=True)
class IpsecSa:
    connection: str | None
    peer: str | None
    state: str  # "up" | "down"
    bytes_in: int | None
    bytes_out: int | None
    uptime_seconds: int | None


@dataclass(frozen=True)
class IpsecSaList:
    ipsec_sas: tuple[IpsecSa, ...]


@dataclass(frozen=True)
class ConsoleHostKeys:
    fingerprints: Mapping[str, str]  # {"RSA": "...", "ECDSA": "...", "ED25519": "..."}
    keys: Mapping[str, str]  # {"ssh-ed25519": "AAAA...", ...}


@dataclass(frozen=True)
class RouterConfig:
    format: str  # "boot" | "commands"
    commands: tuple[str, ...]


# ---------------------------------------------------------------- AWS side


@dataclass(frozen=True)
class TunnelInfo:
    """One AWS tunnel of a VPN connection, as discovered."""

    vpn_connection_id: str
    outside_ip: str
    inside_cidr: str | None  # 169.254.x.y/30
    aws_inside_ip: str | None  # the BGP neighbor the router should see
    router_inside_ip: str | None


@dataclass(frozen=True)
class TunnelTelemetry:
    vpn_connection_id: str
    outside_ip: str
    status: TunnelStatus
    status_message: str
    accepted_routes: int
    last_status_change: datetime | None


@dataclass(frozen=True)
class VpnConnectionInfo:
    vpn_connection_id: str
    state: str
    customer_gateway_id: str
    customer_gateway_ip: str
    gateway_id: str | None  # VGW or TGW
    tunnels: tuple[TunnelInfo, ...]
    telemetry: tuple[TunnelTelemetry, ...]


@dataclass(frozen=True)
class InstanceInfo:
    instance_id: str
    state: str  # pending | running | shutting-down | terminated | stopping | stopped
    private_ip: str | None
    public_ip: str | None
    subnet_id: str | None
    source_dest_check: bool | None
    tags: Mapping[str, str] = field(default_factory=dict)
    status_ok: bool | None = None  # EC2 status checks; None when not reported


@dataclass(frozen=True)
class RouterAwsView:
    """What AWS says about one router this cycle. `error` set → the view is unknown."""

    router: str
    region: str
    instance: InstanceInfo | None
    elastic_ip: str | None
    connections: tuple[VpnConnectionInfo, ...]
    error: str | None = None

    @property
    def known(self) -> bool:
        return self.error is None

    @property
    def tunnels(self) -> tuple[TunnelTelemetry, ...]:
        return tuple(t for c in self.connections for t in c.telemetry)


# ---------------------------------------------------------------- router side


@dataclass(frozen=True)
class RouterSshView:
    """What the router says about itself this cycle (None fields: not observed)."""

    router: str
    reachable: bool
    error: str | None = None
    error_kind: SshErrorKind | None = None
    bgp: BgpSummary | None = None
    ike: IkeSaList | None = None
    ipsec: IpsecSaList | None = None


# ---------------------------------------------------------------- snapshot and verdicts


@dataclass(frozen=True)
class RouterObservation:
    name: str
    site: str
    role: str
    aws: RouterAwsView
    ssh: RouterSshView | None  # None when router polling is not configured for it


@dataclass(frozen=True)
class Snapshot:
    taken_at: float  # epoch seconds, injected
    duration_seconds: float
    routers: tuple[RouterObservation, ...]
    errors: tuple[tuple[str, str], ...] = ()  # (source, message) for this cycle


@dataclass(frozen=True)
class RouterVerdict:
    router: str
    site: str
    instance_id: str | None
    health: Health  # this cycle's health after hysteresis
    raw_health: Health  # this cycle's health before hysteresis
    reason: str
    failed_since: float | None = None
    consecutive_failures: int = 0
    failure_kind: FailureKind | None = None
    flaps: int = 0  # failed → healthy transitions within the flap window (the breaker's input)
    flaps_total: int = 0  # since start (the counter metric)


@dataclass(frozen=True)
class TunnelVerdict:
    vpn_connection_id: str
    outside_ip: str
    router: str
    status: TunnelStatus
    accepted_routes: int | None
    status_message: str
    last_status_change: datetime | None
