"""AWS's tunnel maintenance in the pure core (issue 12): which down tunnels it explains, how a
router is judged around them, and which tunnel action a cycle takes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from vpnwatch import model as m
from vpnwatch.config import Config
from vpnwatch.configfile import parse_config
from vpnwatch.core.cycle import step
from vpnwatch.core.decision import Facts
from vpnwatch.core.maintenance import in_window, next_window_start
from vpnwatch.core.memory import Episode, GuardMemory, MaintenanceApplied, Memory, TunnelEpisode
from vpnwatch.vocabulary import Action, FailureKind, Health, TunnelAction, TunnelStatus

NOW = datetime(2026, 3, 7, 3, 0, tzinfo=UTC).timestamp()  # a Saturday, 03:00 UTC
ROUTERS = {"hub-r1": "hub", "hub-r2": "hub", "spoke1-r1": "spoke1", "spoke1-r2": "spoke1"}
R = "spoke1-r1"


def config(**maintenance: Any) -> Config:
    lines = ["ssh: {key_file: /k, known_hosts: /h}", "heal: {dry_run: false}", "sites:"]
    for site in ("hub", "spoke1"):
        role = "hub" if site == "hub" else "spoke"
        routers = ", ".join(
            f"{{name: {r}, instance_id: i-0000000000000{n:03d}}}"
            for n, (r, s) in enumerate(ROUTERS.items())
            if s == site
        )
        lines.append(f"  - {{name: {site}, role: {role}, routers: [{routers}]}}")
    parsed = parse_config("\n".join(lines) + "\n", environ={})
    rules = parsed.maintenance.model_validate(
        {"reinitiate": {"after": 60, "verify_window": 60, "attempts": 3}, **maintenance}
    )
    return parsed.model_copy(update={"maintenance": rules})


def outside(router: str, i: int) -> str:
    return f"198.51.100.{10 * list(ROUTERS).index(router) + i + 1}"


def vpn(router: str) -> str:
    return f"vpn-{router}"


def obs(
    router: str,
    aws: tuple[str, str] = ("UP", "UP"),
    sa: tuple[bool, bool] | None = None,
    *,
    reachable: bool = True,
    lifecycle: bool | None = True,
) -> m.RouterObservation:
    sa = sa if sa is not None else (aws[0] == "UP", aws[1] == "UP")
    n = list(ROUTERS).index(router)
    inside = (f"169.254.{n}.1", f"169.254.{n}.5")
    when = datetime(2026, 1, 1, tzinfo=UTC)
    tunnels = tuple(
        m.TunnelInfo(vpn(router), outside(router, i), None, inside[i], None, lifecycle)
        for i in (0, 1)
    )
    telemetry = tuple(
        m.TunnelTelemetry(vpn(router), outside(router, i), TunnelStatus(aws[i]), "", 1, when)
        for i in (0, 1)
    )
    conn = m.VpnConnectionInfo(vpn(router), "available", "cgw", "", "vgw", tunnels, telemetry)
    instance = m.InstanceInfo(
        f"i-{n}", "running", "10.0.0.1", None, None, False, {"vpnwatch:managed": "true"}
    )
    view = m.RouterAwsView(router, "us-east-1", instance, "127.0.0.9", (conn,))
    if not reachable:
        ssh = m.RouterSshView(router, False, "refused", None)
    else:
        bgp = m.BgpSummary(
            "10.0.0.1",
            65000,
            tuple(
                m.BgpNeighbor(ip, 64512, "Established" if up else "Active", 1, 9, None, None)
                for ip, up in zip(inside, sa, strict=True)
            ),
        )
        state = ["up" if up else "down" for up in sa]
        ike = m.IkeSaList(
            tuple(
                m.IkeSa(outside(router, i), None, state[i], "IKEv1", None, None, None, 1, 2)
                for i in (0, 1)
            )
        )
        child = m.IpsecSaList(
            tuple(m.IpsecSa("p", outside(router, i), state[i], 1, 1, 1) for i in (0, 1))
        )
        ssh = m.RouterSshView(router, True, None, None, bgp, ike, child)
    return m.RouterObservation(router, ROUTERS[router], "spoke", view, ssh)


def fleet(**special: m.RouterObservation) -> m.Snapshot:
    return m.Snapshot(NOW, 0.1, tuple(special.get(r.replace("-", "_"), obs(r)) for r in ROUTERS))


def applied(router: str, i: int, ago: float, pending: bool = False) -> m.TunnelMaintenance:
    return m.TunnelMaintenance(vpn(router), outside(router, i), pending, None, NOW - ago, NOW)


def pending(router: str, i: int, auto_in: float = 86400.0) -> m.TunnelMaintenance:
    return m.TunnelMaintenance(vpn(router), outside(router, i), True, NOW + auto_in, None, NOW)


def book(*entries: m.TunnelMaintenance) -> dict[tuple[str, str], m.TunnelMaintenance]:
    return {e.key: e for e in entries}


def run(
    snap: m.Snapshot,
    maintenance: dict[tuple[str, str], m.TunnelMaintenance],
    memory: Memory | None = None,
    cfg: Config | None = None,
    now: float = NOW,
    **facts: Any,
) -> tuple[Any, Memory]:
    result, memory, _ = step(
        replace(snap, taken_at=now),
        memory or Memory(),
        [],
        Facts(maintenance=maintenance, **facts),
        now,
        cfg or config(),
    )
    return result, memory


# ---------------------------------------------------------------- the verdict


def test_a_tunnel_down_after_aws_applied_maintenance_is_named_not_blamed() -> None:
    snap = fleet(spoke1_r1=obs(R, ("UP", "DOWN")))
    result, _ = run(snap, book(applied(R, 1, 180)))
    verdict = next(v for v in result.verdicts if v.router == R)
    assert verdict.health is Health.DEGRADED
    note = f"tunnel {outside(R, 1)}: AWS endpoint maintenance (applied 3 min ago)"
    assert verdict.reason == f"{R}: 1/1 other tunnels up; {note}"
    assert note in result.reason


def test_all_tunnels_down_for_maintenance_never_count_toward_the_failure_streak() -> None:
    down = fleet(spoke1_r1=obs(R, ("DOWN", "DOWN"), reachable=True))
    maintenance = book(applied(R, 0, 100), applied(R, 1, 40, pending=True))
    memory = Memory()
    for n in range(6):
        result, memory = run(down, maintenance, memory, now=NOW + 10 * n)
        verdict = next(v for v in result.verdicts if v.router == R)
        assert verdict.health is Health.DEGRADED, result.reason
        assert verdict.failure_kind is FailureKind.AWS_MAINTENANCE
        assert verdict.consecutive_failures == 0
        assert result.decision.action is None
    assert "AWS endpoint maintenance (applied 1 min ago)" in verdict.reason


def test_the_same_tunnels_down_without_a_maintenance_record_still_fail() -> None:
    down = fleet(spoke1_r1=obs(R, ("DOWN", "DOWN")))
    too_old = book(applied(R, 0, 4000), applied(R, 1, 4000))  # beyond maintenance.recent
    memory = Memory()
    for maintenance in ({}, too_old):
        memory = Memory()
        reasons = []
        for n in range(4):
            result, memory = run(down, maintenance, memory, now=NOW + 10 * n)
            reasons.append(result.reason)
        assert f"resetting BGP on {R}: {R} bgp-ipsec-down for 20 s" in reasons, reasons
        assert not any("AWS endpoint maintenance" in r for r in reasons)


def test_maintenance_of_one_tunnel_does_not_excuse_the_other_being_down() -> None:
    down = fleet(spoke1_r1=obs(R, ("DOWN", "DOWN")))
    memory = Memory()
    actions = []
    for n in range(4):
        result, memory = run(down, book(applied(R, 0, 100)), memory, now=NOW + 10 * n)
        actions.append(result.decision.action)
    verdict = next(v for v in result.verdicts if v.router == R)
    assert verdict.failure_kind is FailureKind.TUNNELS_DOWN
    assert Action.RESET_BGP in actions
    assert f"no other tunnel up ({outside(R, 1)}: aws/bgp/ipsec down)" in verdict.reason


def test_a_pending_maintenance_explains_a_down_tunnel_but_an_up_one_needs_no_excuse() -> None:
    snap = fleet(spoke1_r1=obs(R, ("UP", "DOWN")), spoke1_r2=obs("spoke1-r2"))
    result, _ = run(snap, book(pending(R, 1), pending("spoke1-r2", 0)))
    assert f"tunnel {outside(R, 1)}: AWS endpoint maintenance (pending)" in result.reason
    r2 = next(v for v in result.verdicts if v.router == "spoke1-r2")
    assert r2.health is Health.HEALTHY


def test_ssh_failing_is_the_routers_own_doing_maintenance_or_not() -> None:
    dead = fleet(spoke1_r1=obs(R, ("DOWN", "DOWN"), reachable=False))
    memory = Memory()
    for n in range(4):
        result, memory = run(
            dead, book(applied(R, 0, 60), applied(R, 1, 60)), memory, now=NOW + 10 * n
        )
    verdict = next(v for v in result.verdicts if v.router == R)
    assert verdict.failure_kind is FailureKind.UNREACHABLE and verdict.health is Health.FAILED


# ---------------------------------------------------------------- re-initiating IKE


def test_the_router_reinitiates_ike_after_the_endpoint_is_back_and_verifies_it() -> None:
    snap = fleet(spoke1_r1=obs(R, ("UP", "DOWN")))
    maintenance = book(applied(R, 1, 30))
    result, memory = run(snap, maintenance)
    assert result.decision.tunnel is None  # the endpoint may still be provisioning
    later = NOW + 40  # 70 s after AWS applied it
    result, memory = run(snap, maintenance, memory, now=later)
    tunnel = result.decision.tunnel
    assert tunnel is not None and tunnel.action is TunnelAction.REINITIATE_IKE
    assert (tunnel.router, tunnel.outside_ip, tunnel.attempt) == (R, outside(R, 1), 1)
    assert result.reason == (
        f"re-initiating IKE on {R} for tunnel {outside(R, 1)}: AWS endpoint maintenance "
        "(applied 1 min ago), still down (attempt 1/3)"
    )
    assert memory.guards.tunnels[f"{vpn(R)}/{outside(R, 1)}"] == TunnelEpisode(1, later, later)
    result, memory = run(snap, maintenance, memory, now=later + 30)
    assert result.decision.tunnel is None  # verifying the first attempt
    for attempt in (2, 3):
        later += 60
        result, memory = run(snap, maintenance, memory, now=later)
        assert result.decision.tunnel is not None
        assert result.decision.tunnel.attempt == attempt
    result, memory = run(snap, maintenance, memory, now=later + 60)
    assert result.decision.tunnel is None
    assert result.reason.endswith(
        f"tunnel {outside(R, 1)} on {R} still down after 3 IKE re-initiations; needs an operator"
    )
    back = fleet(spoke1_r1=obs(R))
    _, memory = run(back, maintenance, memory, now=later + 70)
    assert memory.guards.tunnels == {}  # the episode ends with the tunnel back


def test_no_reinitiation_while_the_router_holds_the_sa_or_cannot_be_reached() -> None:
    maintenance = book(applied(R, 1, 120))
    holds_sa = fleet(spoke1_r1=obs(R, ("UP", "DOWN"), (True, True)))
    assert run(holds_sa, maintenance)[0].decision.tunnel is None
    cfg = config(reinitiate={"enabled": False})
    assert (
        run(fleet(spoke1_r1=obs(R, ("UP", "DOWN"))), maintenance, cfg=cfg)[0].decision.tunnel
        is None
    )


def test_reinitiation_passes_the_guards_every_heal_passes() -> None:
    snap = fleet(spoke1_r1=obs(R, ("UP", "DOWN")))
    maintenance = book(applied(R, 1, 120))
    paused, _ = run(snap, maintenance, switch_paused=True)
    assert paused.decision.tunnel is None
    assert f"tunnel {outside(R, 1)} on {R}: would re-initiate IKE (paused)" in paused.reason
    busy, _ = run(snap, maintenance, busy={"spoke1-r2": "reboot"})
    assert busy.decision.tunnel is None  # one heal at a time (and the pair guard)
    guarded = Memory(guards=GuardMemory(episodes={"spoke1-r2": Episode(Action.REBOOT, NOW, NOW)}))
    failing_partner = fleet(
        spoke1_r1=obs(R, ("UP", "DOWN")), spoke1_r2=obs("spoke1-r2", ("DOWN", "DOWN"))
    )
    held, _ = run(failing_partner, maintenance, guarded)
    assert held.decision.tunnel is None
    assert "would re-initiate IKE but waits: spoke1-r2 (same site) was acted on" in held.reason
    standby, _ = run(snap, maintenance, leader=False)
    assert standby.decision.tunnel is None


# ---------------------------------------------------------------- controlled maintenance


WINDOW = {"enabled": True, "window": {"days": ["sat"], "start": "02:00", "end": "05:00"}}


def test_pending_maintenance_is_applied_in_the_window_one_tunnel_at_a_time() -> None:
    maintenance = book(pending(R, 0, auto_in=7200), pending("hub-r1", 1, auto_in=86400))
    result, memory = run(fleet(), maintenance, cfg=config(apply=WINDOW))
    tunnel = result.decision.tunnel
    assert tunnel is not None and tunnel.action is TunnelAction.APPLY_MAINTENANCE
    assert (tunnel.router, tunnel.outside_ip) == (R, outside(R, 0))  # AWS's date is nearer
    assert result.reason == (
        f"applying AWS's pending maintenance to tunnel {outside(R, 0)} of {vpn(R)} ({R}): in "
        "the maintenance window, the other tunnel and the partner router healthy; AWS applies "
        "it itself in 2.0 h"
    )
    assert memory.guards.applied == MaintenanceApplied(f"{vpn(R)}/{outside(R, 0)}", NOW)
    # the next waits until the first went down and came back
    result, memory = run(fleet(), maintenance, memory, cfg=config(apply=WINDOW), now=NOW + 5)
    assert result.decision.tunnel is None
    down = fleet(spoke1_r1=obs(R, ("DOWN", "UP")))
    gone = book(applied(R, 0, 0), pending("hub-r1", 1))
    result, memory = run(down, gone, memory, cfg=config(apply=WINDOW), now=NOW + 10)
    assert result.decision.tunnel is None and memory.guards.applied is not None
    assert memory.guards.applied.seen_down
    result, memory = run(fleet(), gone, memory, cfg=config(apply=WINDOW), now=NOW + 20)
    assert result.decision.tunnel is not None and result.decision.tunnel.router == "hub-r1"
    assert memory.guards.applied == MaintenanceApplied(
        f"{vpn('hub-r1')}/{outside('hub-r1', 1)}", NOW + 20
    )


def test_never_outside_the_window_or_without_lifecycle_control() -> None:
    maintenance = book(pending(R, 0))
    closed = NOW + 3 * 3600  # 06:00
    assert (
        run(fleet(), maintenance, cfg=config(apply=WINDOW), now=closed)[0].decision.tunnel is None
    )
    off = fleet(spoke1_r1=obs(R, lifecycle=False))
    assert run(off, maintenance, cfg=config(apply=WINDOW))[0].decision.tunnel is None
    assert run(fleet(), maintenance, cfg=config())[0].decision.tunnel is None  # not enabled


def test_never_while_the_partner_tunnel_or_the_partner_router_is_unhealthy() -> None:
    maintenance = book(pending(R, 0))
    cfg = config(apply=WINDOW)
    partner_tunnel_down = fleet(spoke1_r1=obs(R, ("UP", "DOWN")))
    assert run(partner_tunnel_down, maintenance, cfg=cfg)[0].decision.tunnel is None
    partner_router_down = fleet(spoke1_r2=obs("spoke1-r2", ("UP", "DOWN")))
    assert run(partner_router_down, maintenance, cfg=cfg)[0].decision.tunnel is None
    elsewhere = fleet(hub_r2=obs("hub-r2", ("UP", "DOWN")))  # another site: no matter
    assert run(elsewhere, maintenance, cfg=cfg)[0].decision.tunnel is not None


def test_never_while_aws_maintains_another_tunnel() -> None:
    maintenance = book(pending(R, 0), applied("hub-r1", 1, 60))
    busy = fleet(hub_r1=obs("hub-r1", ("UP", "DOWN"), (True, True)))
    assert run(busy, maintenance, cfg=config(apply=WINDOW))[0].decision.tunnel is None


def test_the_window_runs_past_midnight_on_the_days_it_starts() -> None:
    cfg = config(
        apply={"enabled": True, "window": {"days": ["fri"], "start": "23:00", "end": "01:30"}}
    )
    window = cfg.maintenance.apply.window
    assert window is not None
    friday_late = datetime(2026, 3, 6, 23, 30, tzinfo=UTC).timestamp()
    saturday_early = datetime(2026, 3, 7, 1, 0, tzinfo=UTC).timestamp()
    saturday_late = datetime(2026, 3, 7, 23, 30, tzinfo=UTC).timestamp()
    assert in_window(window, friday_late) and in_window(window, saturday_early)
    assert not in_window(window, saturday_late)
    assert next_window_start(window, friday_late) == friday_late
    assert (
        next_window_start(window, saturday_late)
        == datetime(2026, 3, 13, 23, 0, tzinfo=UTC).timestamp()
    )


def test_a_maintenance_cycle_neither_counts_toward_nor_ends_a_failure_streak() -> None:
    down = fleet(spoke1_r1=obs(R, ("DOWN", "DOWN")))
    memory = Memory()
    _, memory = run(down, {}, memory, now=NOW)
    _, memory = run(down, {}, memory, now=NOW + 5)
    assert memory.hysteresis[R].consecutive_failures == 2
    explained = book(applied(R, 0, 30), applied(R, 1, 30))
    _, memory = run(down, explained, memory, now=NOW + 10)
    assert memory.hysteresis[R].consecutive_failures == 2
    assert memory.hysteresis[R].failed_since == NOW
