"""Two-sided health with hysteresis. Pure: the clock is an argument.

`assess` judges one router for one cycle from the AWS view plus the router's own view;
`evaluate` adds hysteresis (N consecutive failed cycles and ≥ T seconds) and flap counting.
"unknown" never counts toward a failure and never resets one: it is simply not evidence.
A gap of more than `max(3 intervals, 60 s)` without a judgment (the daemon was down) breaks
a streak: cycles that did not happen are not consecutive failures.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from vpnwatch.config import HealthConfig
from vpnwatch.core.memory import RouterHistory
from vpnwatch.model import RouterObservation, RouterVerdict, Snapshot, TunnelVerdict
from vpnwatch.vocabulary import FailureKind, Health, SshErrorKind, TunnelStatus

_DEAD_STATES = ("terminated", "shutting-down")
_STOPPED_STATES = ("stopped", "stopping")


@dataclass(frozen=True)
class Assessment:
    health: Health
    reason: str
    failure_kind: FailureKind | None = None


def streak_gap(rules: HealthConfig) -> float:
    """The longest time between two judgments of a router that keeps its failure streak."""
    return max(3 * rules.interval, 60.0)


def _aws_tunnel_is_good(up: bool, routes: int | None) -> bool:
    """AWS's AcceptedRouteCount counts what AWS accepted *from* the router (its VPC prefix),
    not what the router receives, so `expect.min_prefixes` does not apply here: one is enough."""
    return up and (routes is None or routes >= 1)


def assess(obs: RouterObservation, min_prefixes: int = 1) -> Assessment:
    """One router, one cycle, no hysteresis."""
    aws, ssh = obs.aws, obs.ssh
    name = obs.name
    if aws.known and aws.instance is not None and aws.instance.state in _STOPPED_STATES:
        return Assessment(
            Health.FAILED,
            f"{name}: instance {aws.instance.instance_id} is {aws.instance.state}",
            FailureKind.INSTANCE_STOPPED,
        )
    if aws.known and aws.instance is not None and aws.instance.state in _DEAD_STATES:
        return Assessment(
            Health.FAILED,
            f"{name}: instance {aws.instance.instance_id} is {aws.instance.state}",
            FailureKind.UNREACHABLE,
        )
    if ssh is not None and ssh.error_kind in (
        SshErrorKind.PARSE,
        SshErrorKind.HOST_KEY,
        SshErrorKind.AUTH,
        SshErrorKind.COMMAND,
    ):
        return Assessment(
            Health.UNKNOWN, f"{name}: router view unusable ({ssh.error_kind}): {ssh.error}"
        )
    if not aws.known:
        if ssh is not None and ssh.reachable:
            return _judge_router_only(obs, min_prefixes)
        return Assessment(Health.UNKNOWN, f"{name}: AWS view unknown ({aws.error})")
    tunnels = aws.tunnels
    if not aws.connections:
        return Assessment(
            Health.UNKNOWN, f"{name}: no VPN connections found for EIP {aws.elastic_ip or '(none)'}"
        )
    aws_up = [
        t for t in tunnels if _aws_tunnel_is_good(t.status is TunnelStatus.UP, t.accepted_routes)
    ]
    if ssh is None:  # AWS-only view
        if len(aws_up) == len(tunnels) and tunnels:
            return Assessment(Health.HEALTHY, f"{name}: {len(tunnels)}/{len(tunnels)} tunnels UP")
        if not aws_up:
            return Assessment(
                Health.FAILED,
                f"{name}: all {len(tunnels)} tunnels DOWN on AWS",
                FailureKind.TUNNELS_DOWN,
            )
        return Assessment(
            Health.DEGRADED, f"{name}: {len(aws_up)}/{len(tunnels)} tunnels UP on AWS"
        )
    if not ssh.reachable:
        if aws_up:
            return Assessment(
                Health.DEGRADED,
                f"{name}: SSH {ssh.error_kind or 'failed'} but "
                f"{len(aws_up)}/{len(tunnels)} tunnels UP on AWS",
            )
        return Assessment(
            Health.FAILED,
            f"{name}: SSH {ssh.error_kind or 'failed'} ({ssh.error}) and all tunnels DOWN on AWS",
            FailureKind.UNREACHABLE,
        )
    good, total, detail = _two_sided_tunnels(obs, min_prefixes)
    if total and good == total:
        return Assessment(Health.HEALTHY, f"{name}: {good}/{total} tunnels up on both sides")
    if good == 0:
        return Assessment(
            Health.FAILED,
            f"{name}: reachable but no tunnel up ({detail})",
            FailureKind.TUNNELS_DOWN,
        )
    return Assessment(Health.DEGRADED, f"{name}: {good}/{total} tunnels up ({detail})")


def _router_side(
    obs: RouterObservation, min_prefixes: int
) -> tuple[dict[str, bool], dict[str, bool]]:
    """neighbor → BGP good, peer → IPsec up, as the router sees them."""
    ssh = obs.ssh
    assert ssh is not None
    bgp: dict[str, bool] = {}
    if ssh.bgp is not None:
        for n in ssh.bgp.neighbors:
            good = n.established and (n.prefixes_received or 0) >= min_prefixes
            bgp[n.neighbor] = bgp.get(n.neighbor, False) or good
    ike_up = {s.peer for s in (ssh.ike.ike_sas if ssh.ike else ()) if s.state == "up"}
    child_up = {
        s.peer for s in (ssh.ipsec.ipsec_sas if ssh.ipsec else ()) if s.state == "up" and s.peer
    }
    ipsec = {peer: peer in ike_up and peer in child_up for peer in ike_up | child_up}
    return bgp, ipsec


def _two_sided_tunnels(obs: RouterObservation, min_prefixes: int) -> tuple[int, int, str]:
    bgp, ipsec = _router_side(obs, min_prefixes)
    telemetry = {(t.vpn_connection_id, t.outside_ip): t for t in obs.aws.tunnels}
    good = 0
    total = 0
    problems = []
    for conn in obs.aws.connections:
        for tunnel in conn.tunnels:
            total += 1
            t = telemetry.get((tunnel.vpn_connection_id, tunnel.outside_ip))
            aws_ok = t is not None and _aws_tunnel_is_good(
                t.status is TunnelStatus.UP, t.accepted_routes
            )
            bgp_ok = bgp.get(tunnel.aws_inside_ip or "", False) if tunnel.aws_inside_ip else aws_ok
            ipsec_ok = ipsec.get(tunnel.outside_ip, False)
            if aws_ok and bgp_ok and ipsec_ok:
                good += 1
            else:
                side = [
                    w for w, ok in (("aws", aws_ok), ("bgp", bgp_ok), ("ipsec", ipsec_ok)) if not ok
                ]
                problems.append(f"{tunnel.outside_ip}: {'/'.join(side)} down")
    return good, total, "; ".join(problems) or "all up"


def _judge_router_only(obs: RouterObservation, min_prefixes: int) -> Assessment:
    bgp, ipsec = _router_side(obs, min_prefixes)
    if bgp and all(bgp.values()) and ipsec and all(ipsec.values()):
        return Assessment(
            Health.UNKNOWN, f"{obs.name}: router looks fine, AWS view unknown ({obs.aws.error})"
        )
    return Assessment(Health.UNKNOWN, f"{obs.name}: AWS view unknown ({obs.aws.error})")


def _advance(
    history: RouterHistory, raw: Assessment, now: float, rules: HealthConfig
) -> RouterHistory:
    window_start = now - rules.flap_window_seconds
    flap_times = tuple(t for t in history.flap_times if t >= window_start)
    if history.seen_at is not None and now - history.seen_at > streak_gap(rules):
        history = RouterHistory(flap_times=flap_times, flaps_total=history.flaps_total)
    history = replace(history, seen_at=now)
    if raw.health is Health.UNKNOWN:
        return replace(history, flap_times=flap_times)
    if raw.health is Health.FAILED:
        return replace(
            history,
            consecutive_failures=history.consecutive_failures + 1,
            failed_since=history.failed_since if history.failed_since is not None else now,
            flap_times=flap_times,
            was_failed=True,
        )
    if history.was_failed and raw.health is Health.HEALTHY:  # failed → healthy is one flap
        return RouterHistory(
            flap_times=(*flap_times, now), flaps_total=history.flaps_total + 1, seen_at=now
        )
    if raw.health is Health.HEALTHY:
        return RouterHistory(flap_times=flap_times, flaps_total=history.flaps_total, seen_at=now)
    # degraded: the failure streak ends, but a later recovery still counts as a flap
    return RouterHistory(
        flap_times=flap_times,
        flaps_total=history.flaps_total,
        was_failed=history.was_failed,
        seen_at=now,
    )


def evaluate(
    snapshot: Snapshot,
    histories: Mapping[str, RouterHistory],
    now: float,
    rules: HealthConfig,
    min_prefixes: Mapping[str, int],
) -> tuple[tuple[RouterVerdict, ...], dict[str, RouterHistory]]:
    """Verdicts after hysteresis, and the histories to remember (routers no longer
    configured are forgotten)."""
    verdicts = []
    new_histories: dict[str, RouterHistory] = {}
    for obs in snapshot.routers:
        raw = assess(obs, min_prefixes.get(obs.name, 1))
        hist = _advance(histories.get(obs.name, RouterHistory()), raw, now, rules)
        new_histories[obs.name] = hist
        health, reason = raw.health, raw.reason
        if raw.health is Health.FAILED:
            failed_for = now - (hist.failed_since if hist.failed_since is not None else now)
            persistent = (
                hist.consecutive_failures >= rules.failures
                and failed_for >= rules.min_failed_seconds
            )
            if not persistent:
                health = Health.DEGRADED
                reason = (
                    f"{raw.reason} (failing {hist.consecutive_failures}/{rules.failures}"
                    " cycles, "
                    f"{failed_for:.0f}/{rules.min_failed_seconds:.0f} s)"
                )
            else:
                reason = f"{raw.reason} for {failed_for:.0f} s"
        instance = obs.aws.instance
        verdicts.append(
            RouterVerdict(
                router=obs.name,
                site=obs.site,
                instance_id=instance.instance_id if instance else None,
                health=health,
                raw_health=raw.health,
                reason=reason,
                failed_since=hist.failed_since,
                consecutive_failures=hist.consecutive_failures,
                failure_kind=raw.failure_kind,
                flaps=len(hist.flap_times),
                flaps_total=hist.flaps_total,
            )
        )
    return tuple(verdicts), new_histories


def tunnel_verdicts(snapshot: Snapshot) -> tuple[TunnelVerdict, ...]:
    out = []
    for obs in snapshot.routers:
        if not obs.aws.known:
            continue
        for conn in obs.aws.connections:
            telemetry = {t.outside_ip: t for t in conn.telemetry}
            for tunnel in conn.tunnels:
                t = telemetry.get(tunnel.outside_ip)
                out.append(
                    TunnelVerdict(
                        vpn_connection_id=conn.vpn_connection_id,
                        outside_ip=tunnel.outside_ip,
                        router=obs.name,
                        status=t.status if t else TunnelStatus.UNKNOWN,
                        accepted_routes=t.accepted_routes if t else None,
                        status_message=t.status_message if t else "",
                        last_status_change=t.last_status_change if t else None,
                    )
                )
    return tuple(out)
