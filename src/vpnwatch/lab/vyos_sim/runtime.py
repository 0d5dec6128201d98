"""The dataplane of one simulated router: per AWS tunnel, its IPsec SA and BGP session.

A small discrete-event model: events (commit, fault, reset, boot) set what is *possible*;
`advance(now)` moves pending timers forward using the times they were due, so the state
is exact however rarely it is looked at. Time only comes from the `now` passed in.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from vpnwatch.lab.vyos_sim.negotiation import AwsCrypto

AWS_DEFAULT_CRYPTO = AwsCrypto()


@dataclass(frozen=True)
class TunnelSpec:
    """One AWS tunnel as AWS set it up (the router's counterpart of a VgwTelemetry entry)."""

    outside_ip: str  # AWS end of the tunnel
    inside_cidr: str  # 169.254.x.y/30
    aws_inside_ip: str  # the BGP neighbor the router peers with
    router_inside_ip: str  # the router's VTI address
    psk: str = field(repr=False)
    remote_as: int = 64512
    prefixes: tuple[str, ...] = ("10.0.0.0/16",)  # what AWS advertises on this session
    crypto: AwsCrypto = AWS_DEFAULT_CRYPTO  # what AWS's tunnel options permit

    def __post_init__(self) -> None:
        net = ipaddress.IPv4Network(self.inside_cidr, strict=True)
        ipaddress.IPv4Address(self.outside_ip)
        for address in (self.aws_inside_ip, self.router_inside_ip):
            if ipaddress.IPv4Address(address) not in net:
                raise ValueError(f"{address} is not inside {self.inside_cidr}")
        for prefix in self.prefixes:
            ipaddress.IPv4Network(prefix, strict=True)

    @classmethod
    def from_cidr(
        cls,
        outside_ip: str,
        inside_cidr: str,
        psk: str,
        *,
        remote_as: int = 64512,
        prefixes: tuple[str, ...] = ("10.0.0.0/16",),
        crypto: AwsCrypto = AWS_DEFAULT_CRYPTO,
    ) -> TunnelSpec:
        """AWS's convention: the first host of the /30 is AWS, the second the customer."""
        net = ipaddress.IPv4Network(inside_cidr, strict=True)
        return cls(
            outside_ip, inside_cidr, str(net[1]), str(net[2]), psk, remote_as, prefixes, crypto
        )


@dataclass(frozen=True)
class Timings:
    """How long negotiations take once possible (seconds of the injected clock)."""

    ipsec_setup: float = 0.5
    bgp_setup: float = 1.0


@dataclass(frozen=True)
class Conditions:
    """What the configuration and faults allow for one tunnel, fixed between events."""

    ipsec_ok: bool = False
    bgp_ok: bool = False
    blocked_state: str = "Active"  # what BGP shows while not allowed
    holdtime: int = 180


@dataclass
class TunnelRuntime:
    spec: TunnelSpec
    cond: Conditions = field(default_factory=Conditions)
    sa_since: float | None = None  # IPsec SA established at
    sa_due: float | None = None  # negotiation completes at
    sa_lost_at: float | None = None  # SA lost while BGP was up: the hold timer runs
    sa_established_count: int = 0
    bgp_since: float | None = None  # Established at
    retry_from: float | None = None  # BGP may (re)connect from
    last_change: float | None = None  # last BGP state change; None → "never"
    last_established: float | None = None  # for FRR's peerUptimeEstablishedEpoch
    established_count: int = 0
    dropped_count: int = 0

    # ---------------------------------------------------------------- time

    def advance(self, now: float, timings: Timings) -> None:
        if self.sa_due is not None and self.sa_due <= now:
            self.sa_since, self.sa_due = self.sa_due, None
            self.sa_established_count += 1
        if self.bgp_since is not None and self.sa_lost_at is not None:
            expire = self.sa_lost_at + self.cond.holdtime
            if self.sa_since is not None and self.sa_since <= expire:
                self.sa_lost_at = None  # the SA came back before the hold timer fired
            elif expire <= now:
                self._drop(expire)
                self.retry_from = expire
        if (
            self.bgp_since is None
            and self.cond.bgp_ok
            and self.sa_since is not None
            and self.retry_from is not None
        ):
            at = max(self.retry_from, self.sa_since) + timings.bgp_setup
            if at <= now:
                self.bgp_since, self.last_change, self.last_established = at, at, at
                self.established_count += 1

    def _drop(self, at: float) -> None:
        self.bgp_since, self.sa_lost_at, self.last_change = None, None, at
        self.dropped_count += 1

    def _lose_sa(self, now: float) -> None:
        if self.sa_since is not None and self.bgp_since is not None:
            self.sa_lost_at = now
        self.sa_since = None

    # ---------------------------------------------------------------- events

    def apply(self, now: float, cond: Conditions, timings: Timings) -> None:
        """New conditions from a commit, a fault or a boot."""
        self.advance(now, timings)
        self.cond = cond
        if not cond.ipsec_ok:
            self._lose_sa(now)
            self.sa_due = None
        elif self.sa_since is None and self.sa_due is None:
            self.sa_due = now + timings.ipsec_setup
        if not cond.bgp_ok:
            if self.bgp_since is not None:
                self._drop(now)
            self.retry_from = None
        elif self.retry_from is None:
            self.retry_from = now

    def reset_sa(self, now: float, timings: Timings) -> None:
        """`reset vpn ipsec-peer` / `restart vpn`: tear the SA down and renegotiate."""
        self.advance(now, timings)
        self._lose_sa(now)
        self.sa_due = now + timings.ipsec_setup if self.cond.ipsec_ok else None

    def reset_bgp(self, now: float, timings: Timings) -> None:
        """`reset ip bgp <neighbor>`: drop the session; it reconnects when it can."""
        self.advance(now, timings)
        if self.bgp_since is not None:
            self._drop(now)
        self.retry_from = now if self.cond.bgp_ok else None

    def power_off(self, now: float, timings: Timings) -> None:
        self.apply(now, Conditions(), timings)
        self.sa_lost_at = None

    # ---------------------------------------------------------------- reading

    @property
    def sa_up(self) -> bool:
        return self.sa_since is not None

    @property
    def bgp_up(self) -> bool:
        return self.bgp_since is not None

    def bgp_state(self, now: float, timings: Timings) -> str:
        """FRR's word for the session now (call after advance)."""
        if self.bgp_since is not None:
            return "Established"
        if not self.cond.bgp_ok:
            return self.cond.blocked_state
        if self.sa_since is None:
            return "Connect"  # TCP SYNs go into a tunnel that is not there
        start = max(self.retry_from or now, self.sa_since)
        return "Idle" if now - start < timings.bgp_setup / 2 else "Active"
