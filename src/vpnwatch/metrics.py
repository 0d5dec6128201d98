"""Prometheus metrics: a collector renders the latest cycle at scrape time.

The registry is injected (a fresh one per test). Counters that only grow with events
(poll errors) are ordinary client objects; everything describing the fleet is rendered
from the immutable `CycleResult` the daemon last published, so a scrape never sees half
a cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
)
from prometheus_client.registry import Collector

from vpnwatch import __version__
from vpnwatch.config import Config
from vpnwatch.core.cycle import CycleResult
from vpnwatch.core.maintenance import explained_tunnels, next_window_start
from vpnwatch.model import TunnelMaintenance, TunnelVerdict
from vpnwatch.vocabulary import Health, TunnelStatus

POLL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0)
AWS_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
TUNNEL_LABELS = ["vpn_connection_id", "tunnel_outside_ip", "router"]


class LeaseFigures(Protocol):
    """The lease as the metrics show it (statestore.api.LeaseStatus is one)."""

    @property
    def leader(self) -> bool: ...
    @property
    def fence(self) -> int: ...
    @property
    def renew_failures(self) -> int: ...
    @property
    def transitions(self) -> int: ...


@dataclass
class ControlState:
    """Switches and counters of the acting side (healing); rendered as they are."""

    dry_run: bool = True
    paused: bool = False
    leader: bool = True
    breaker_open: bool = False
    heal_steps: dict[str, str] = field(default_factory=dict)  # router → current step
    actions: dict[tuple[str, str, str], int] = field(
        default_factory=dict
    )  # (router, action, result)
    heal_failures: dict[str, int] = field(default_factory=dict)
    backup_success: dict[str, float] = field(default_factory=dict)
    backup_drift: dict[str, bool] = field(default_factory=dict)
    state_errors: dict[str, str] = field(default_factory=dict)  # file → why it is unreadable
    lease: Callable[[], LeaseFigures] | None = None  # read at scrape time: leadership is live
    rehearsals: dict[str, tuple[bool, float]] = field(default_factory=dict)  # router → (ok, at)
    # router → section → drifted, from its last compared backup pull (absent: not compared)
    vpn_drift: dict[str, dict[str, bool]] = field(default_factory=dict)

    def count_heal(self, router: str, action: str, result: str) -> None:
        key = (router, action, result)
        self.actions[key] = self.actions.get(key, 0) + 1
        if result == "failure":
            self.heal_failures[router] = self.heal_failures.get(router, 0) + 1


class Metrics:
    """Owns the metric objects of one daemon; register once on the given registry."""

    def __init__(
        self,
        registry: CollectorRegistry,
        latest: Callable[[], CycleResult | None],
        control: ControlState,
    ) -> None:
        self.registry = registry
        self.poll_duration = Histogram(
            "vpnwatch_poll_duration_seconds",
            "Wall time of one observation cycle.",
            buckets=POLL_BUCKETS,
            registry=registry,
        )
        self.poll_errors = Counter(
            "vpnwatch_poll_errors",
            "Observation errors by source (aws, ssh, parse, hostkey).",
            ["source"],
            registry=registry,
        )
        for source in ("aws", "ssh", "parse", "hostkey"):
            self.poll_errors.labels(source)  # export zeros so rate() works from the start
        registry.register(FleetCollector(latest, control))

    def count_errors(self, errors: Iterable[tuple[str, str]]) -> None:
        for source, _reason in errors:
            self.poll_errors.labels(source).inc()


class FleetCollector(Collector):
    def __init__(self, latest: Callable[[], CycleResult | None], control: ControlState) -> None:
        self._latest = latest
        self._control = control

    def collect(
        self,
    ) -> Iterable[GaugeMetricFamily | CounterMetricFamily | InfoMetricFamily]:
        yield InfoMetricFamily(
            "vpnwatch_build", "vpnwatch build information.", value={"version": __version__}
        )
        yield from _control_metrics(self._control)
        result = self._latest()
        if result is None:
            return
        last = GaugeMetricFamily(
            "vpnwatch_last_cycle_timestamp_seconds", "End of the last completed cycle (epoch)."
        )
        last.add_metric([], result.finished_at)
        yield last
        yield from _tunnel_metrics(result.tunnels)
        yield from _connection_metrics(result.tunnels)
        yield from _router_metrics(result)


def _connection_metrics(tunnels: Iterable[TunnelVerdict]) -> Iterable[GaugeMetricFamily]:
    """One tunnel down (redundancy lost) and both down (connection down) apart."""
    down = GaugeMetricFamily(
        "vpnwatch_vpn_connection_tunnels_down",
        "Tunnels of the VPN connection AWS reports DOWN (0, 1 or 2; known tunnels only).",
        labels=["vpn_connection_id", "router"],
    )
    counts: dict[tuple[str, str], int] = {}
    for t in tunnels:
        if t.status is not TunnelStatus.UNKNOWN:
            key = (t.vpn_connection_id, t.router)
            counts[key] = counts.get(key, 0) + (t.status is TunnelStatus.DOWN)
    for (vpn, router), n in sorted(counts.items()):
        down.add_metric([vpn, router], float(n))
    yield down


def _tunnel_metrics(tunnels: Iterable[TunnelVerdict]) -> Iterable[GaugeMetricFamily]:
    labels = ["vpn_connection_id", "tunnel_outside_ip", "router"]
    up = GaugeMetricFamily("vpnwatch_tunnel_up", "AWS tunnel status (1 UP, 0 DOWN).", labels=labels)
    routes = GaugeMetricFamily(
        "vpnwatch_tunnel_accepted_routes", "Routes AWS accepted over the tunnel.", labels=labels
    )
    changed = GaugeMetricFamily(
        "vpnwatch_tunnel_last_status_change_timestamp_seconds",
        "When AWS last saw the tunnel change state (epoch).",
        labels=labels,
    )
    for t in tunnels:
        if t.status is TunnelStatus.UNKNOWN:
            continue
        key = [t.vpn_connection_id, t.outside_ip, t.router]
        up.add_metric(key, 1.0 if t.status is TunnelStatus.UP else 0.0)
        if t.accepted_routes is not None:
            routes.add_metric(key, float(t.accepted_routes))
        if t.last_status_change is not None:
            changed.add_metric(key, t.last_status_change.timestamp())
    yield from (up, routes, changed)


def _router_metrics(
    result: CycleResult,
) -> Iterable[GaugeMetricFamily | CounterMetricFamily]:
    router_up = GaugeMetricFamily(
        "vpnwatch_router_up", "Router answered over SSH this cycle.", labels=["router", "site"]
    )
    bgp_up = GaugeMetricFamily(
        "vpnwatch_bgp_neighbor_up", "BGP neighbor Established.", labels=["router", "neighbor"]
    )
    bgp_pfx = GaugeMetricFamily(
        "vpnwatch_bgp_prefixes_received",
        "Prefixes received from the BGP neighbor.",
        labels=["router", "neighbor"],
    )
    sa_up = GaugeMetricFamily(
        "vpnwatch_ipsec_sa_up", "IPsec SA up towards the peer.", labels=["router", "peer"]
    )
    for obs in result.snapshot.routers:
        ssh = obs.ssh
        if ssh is None:
            continue
        router_up.add_metric([obs.name, obs.site], 1.0 if ssh.reachable else 0.0)
        if ssh.error_kind is not None:  # nothing trustworthy to export for this cycle
            continue
        if ssh.bgp is not None:
            best: dict[str, tuple[bool, int | None]] = {}
            for n in ssh.bgp.neighbors:
                if n.neighbor not in best or n.established:
                    best[n.neighbor] = (n.established, n.prefixes_received)
            for neighbor, (established, prefixes) in sorted(best.items()):
                bgp_up.add_metric([obs.name, neighbor], 1.0 if established else 0.0)
                bgp_pfx.add_metric([obs.name, neighbor], float(prefixes or 0))
        if ssh.ipsec is not None:
            peers: dict[str, bool] = {}
            for sa in ssh.ipsec.ipsec_sas:
                if sa.peer:
                    peers[sa.peer] = peers.get(sa.peer, False) or sa.state == "up"
            for peer, is_up in sorted(peers.items()):
                sa_up.add_metric([obs.name, peer], 1.0 if is_up else 0.0)
    yield from (router_up, bgp_up, bgp_pfx, sa_up)

    health = GaugeMetricFamily(
        "vpnwatch_router_health",
        "Router verdict after hysteresis: 1 for its current state, 0 for the others.",
        labels=["router", "site", "state"],
    )
    failed = GaugeMetricFamily(
        "vpnwatch_router_failed_seconds",
        "How long the router has been failing (0 when not).",
        labels=["router"],
    )
    flaps = CounterMetricFamily(
        "vpnwatch_router_flaps", "Failed → healthy transitions.", labels=["router"]
    )
    now = result.finished_at
    for v in result.verdicts:
        for h in Health:
            health.add_metric([v.router, v.site, h.value], 1.0 if v.health is h else 0.0)
        since = v.failed_since if v.raw_health is Health.FAILED else None
        failed.add_metric([v.router], max(0.0, now - since) if since is not None else 0.0)
        flaps.add_metric([v.router], float(v.flaps_total))
    yield from (health, failed, flaps)


def _gauge(name: str, doc: str, value: bool | float) -> GaugeMetricFamily:
    g = GaugeMetricFamily(name, doc)
    g.add_metric([], float(value))
    return g


def _control_metrics(c: ControlState) -> Iterable[GaugeMetricFamily | CounterMetricFamily]:
    yield _gauge(
        "vpnwatch_dry_run", "1 when mutations are only logged ('would have ...').", c.dry_run
    )
    yield _gauge("vpnwatch_paused", "1 when actions are paused (observing continues).", c.paused)
    yield from _lease_metrics(c)
    yield _gauge(
        "vpnwatch_circuit_breaker_open",
        "1 when the replacement circuit breaker is open.",
        c.breaker_open,
    )
    steps = GaugeMetricFamily(
        "vpnwatch_heal_in_progress", "1 while a heal is at that step.", labels=["router", "step"]
    )
    for router, step in sorted(c.heal_steps.items()):
        steps.add_metric([router, step], 1.0)
    yield steps
    actions = CounterMetricFamily(
        "vpnwatch_actions", "Healing actions by result.", labels=["router", "action", "result"]
    )
    for (router, action, res), n in sorted(c.actions.items()):
        actions.add_metric([router, action, res], float(n))
    yield actions
    failures = CounterMetricFamily(
        "vpnwatch_heal_failures", "Heals that ended in failure.", labels=["router"]
    )
    for router, n in sorted(c.heal_failures.items()):
        failures.add_metric([router], float(n))
    yield failures
    yield from _backup_metrics(c.backup_success, c.backup_drift)
    errors = GaugeMetricFamily(
        "vpnwatch_state_error",
        "1 while a state file is unreadable (the daemon observes but does not act).",
        labels=["file"],
    )
    for file in sorted(c.state_errors):
        errors.add_metric([file], 1.0)
    yield errors
    yield from _rehearsal_metrics(c.rehearsals)
    drift = GaugeMetricFamily(
        "vpnwatch_vpn_config_drift",
        "1 when the router's running VPN/BGP configuration section differs from the one "
        "rendered from AWS (checked on each backup pull).",
        labels=["router", "section"],
    )
    for router, sections in sorted(c.vpn_drift.items()):
        for section, drifted in sections.items():
            drift.add_metric([router, section], 1.0 if drifted else 0.0)
    yield drift


def _rehearsal_metrics(rehearsals: Mapping[str, tuple[bool, float]]) -> Iterable[GaugeMetricFamily]:
    ok = GaugeMetricFamily(
        "vpnwatch_rehearsal_ok",
        "1 when the router's last replacement rehearsal (preflight, DryRun calls) passed.",
        labels=["router"],
    )
    at = GaugeMetricFamily(
        "vpnwatch_rehearsal_last_timestamp_seconds",
        "When the router's replacement was last rehearsed (epoch).",
        labels=["router"],
    )
    for router, (passed, when) in sorted(rehearsals.items()):
        ok.add_metric([router], 1.0 if passed else 0.0)
        at.add_metric([router], when)
    yield from (ok, at)


def _lease_metrics(c: ControlState) -> Iterable[GaugeMetricFamily | CounterMetricFamily]:
    lease = c.lease() if c.lease is not None else None
    leader = lease.leader if lease is not None else c.leader
    yield _gauge("vpnwatch_leader", "1 when this replica holds the leader lock.", leader)
    yield _gauge(
        "vpnwatch_lease_fence",
        "Fencing token of the lease this replica holds, else the newest it has seen.",
        lease.fence if lease is not None else 0,
    )
    renew = CounterMetricFamily(
        "vpnwatch_lease_renew_failures", "Lease renewals that failed (throttled, unreachable)."
    )
    renew.add_metric([], float(lease.renew_failures if lease is not None else 0))
    transitions = CounterMetricFamily(
        "vpnwatch_lease_transitions", "Times this replica became leader or stopped being it."
    )
    transitions.add_metric([], float(lease.transitions if lease is not None else 0))
    yield from (renew, transitions)


def _backup_metrics(
    success: Mapping[str, float], drift: Mapping[str, bool]
) -> Iterable[GaugeMetricFamily]:
    ts = GaugeMetricFamily(
        "vpnwatch_backup_last_success_timestamp_seconds",
        "Last successful config backup (epoch).",
        labels=["router"],
    )
    for router, when in sorted(success.items()):
        ts.add_metric([router], when)
    d = GaugeMetricFamily(
        "vpnwatch_backup_drift",
        "1 when the running config differs from the last stored backup.",
        labels=["router"],
    )
    for router, differs in sorted(drift.items()):
        d.add_metric([router], 1.0 if differs else 0.0)
    yield from (ts, d)


class AwsRequestMetrics:
    """Every AWS HTTP request (adapters/aws.py reports them through botocore's events)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "vpnwatch_aws_requests",
            "AWS API requests by outcome (ok, throttled, error, timeout); each retry and page.",
            ["region", "action", "outcome"],
            registry=registry,
        )
        self.duration = Histogram(
            "vpnwatch_aws_request_duration_seconds",
            "Wall time of one AWS API request.",
            ["action"],
            buckets=AWS_BUCKETS,
            registry=registry,
        )

    def record(self, region: str, action: str, outcome: str, seconds: float) -> None:
        self.requests.labels(region, action, outcome).inc()
        self.duration.labels(action).observe(seconds)


class MaintenanceCollector(Collector):
    """AWS's maintenance of each tunnel, as last read, with the router the tunnel ends on."""

    def __init__(
        self,
        latest: Callable[[], CycleResult | None],
        book: Callable[[], Mapping[tuple[str, str], TunnelMaintenance]],
        config: Callable[[], Config],
    ) -> None:
        self._latest = latest
        self._book = book
        self._config = config

    def collect(self) -> Iterable[GaugeMetricFamily]:
        result = self._latest()
        if result is None:
            return
        rules = self._config().maintenance
        book = self._book()
        pending, auto, last, window, explained = (
            GaugeMetricFamily(name, doc, labels=TUNNEL_LABELS)
            for name, doc in (
                ("vpnwatch_tunnel_maintenance_pending", "1 while AWS has maintenance pending."),
                (
                    "vpnwatch_tunnel_maintenance_auto_apply_timestamp_seconds",
                    "When AWS applies the pending maintenance itself (epoch).",
                ),
                (
                    "vpnwatch_tunnel_last_maintenance_timestamp_seconds",
                    "When AWS last applied maintenance to the tunnel (epoch).",
                ),
                (
                    "vpnwatch_tunnel_maintenance_window_start_timestamp_seconds",
                    "Start of the window in which vpnwatch applies the pending maintenance "
                    "itself, if that is before AWS would (epoch).",
                ),
                (
                    "vpnwatch_tunnel_aws_maintenance",
                    "1 while the tunnel is down because AWS replaces its endpoint.",
                ),
            )
        )
        now = result.finished_at
        down = explained_tunnels(result.snapshot, book, now, rules.recent)
        opens = None
        if rules.apply.enabled and rules.apply.window is not None:
            opens = next_window_start(rules.apply.window, now)
        for t in result.tunnels:
            key = (t.vpn_connection_id, t.outside_ip)
            m = book.get(key)
            if m is None:
                continue
            labels = [t.vpn_connection_id, t.outside_ip, t.router]
            pending.add_metric(labels, 1.0 if m.pending else 0.0)
            explained.add_metric(labels, 1.0 if key in down else 0.0)
            if m.auto_apply_after is not None:
                auto.add_metric(labels, m.auto_apply_after)
            if m.last_applied is not None:
                last.add_metric(labels, m.last_applied)
            before = m.auto_apply_after is None or (opens or 0.0) < m.auto_apply_after
            if m.pending and opens is not None and before:
                window.add_metric(labels, opens)
        yield from (pending, auto, last, window, explained)
