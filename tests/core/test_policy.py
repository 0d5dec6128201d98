from __future__ import annotations

from dataclasses import replace

from vpnwatch.model import Health, RouterVerdict
from vpnwatch.policy import (
    Decision,
    FleetFacts,
    GuardState,
    PolicySettings,
    after_action,
    decide,
    settle,
)

SETTINGS = PolicySettings(
    ladders={
        "bgp-ipsec-down": ("reset-bgp", "restart-vpn", "reboot", "replace"),
        "unreachable": ("reboot", "replace"),
    },
    verify_windows={"reset-bgp": 30.0, "restart-vpn": 30.0, "reboot": 30.0, "replace": 30.0},
    cooldown=300.0,
    max_replacements_per_router_per_day=2,
    max_replacements_per_fleet_per_hour=3,
    max_flaps=4,
)
SITES = {"hub-r1": "hub", "hub-r2": "hub", "spoke1-r1": "spoke1", "spoke1-r2": "spoke1"}
FACTS = FleetFacts(
    site_of=SITES, managed=dict.fromkeys(SITES, True), has_backup=dict.fromkeys(SITES, True)
)
LIVE = GuardState(dry_run=False)


def verdict(
    router: str,
    health: Health = Health.HEALTHY,
    kind: str | None = None,
    since: float | None = None,
    flaps: int = 0,
) -> RouterVerdict:
    return RouterVerdict(
        router,
        SITES[router],
        "i-00000001",
        health,
        health,
        f"{router}: x",
        failed_since=since,
        failure_kind=kind,
        flaps=flaps,
    )


def fleet(**overrides: RouterVerdict) -> list[RouterVerdict]:
    return [overrides.get(r.replace("-", "_"), verdict(r)) for r in SITES]


def go(
    verdicts: list[RouterVerdict],
    state: GuardState = LIVE,
    now: float = 100.0,
    facts: FleetFacts = FACTS,
) -> Decision:
    return decide(verdicts, state, facts, now, SETTINGS, observed="no action: all healthy")


def test_all_healthy_is_no_action_with_the_observation_reason() -> None:
    d = go(fleet())
    assert not d.acts and d.reason == "no action: all healthy"


def test_bgp_down_starts_with_reset_bgp_and_escalates_after_the_verify_window() -> None:
    v = fleet(hub_r2=verdict("hub-r2", Health.FAILED, "bgp-ipsec-down", since=50))
    d = go(v)
    assert (d.action, d.router) == ("reset-bgp", "hub-r2")
    assert d.reason == "resetting BGP on hub-r2: hub-r2 bgp-ipsec-down for 50 s"
    state = after_action(LIVE, "hub-r2", "reset-bgp", 100)
    assert go(v, state, now=110).reason == "no action: verifying reset-bgp on hub-r2 (20 s left)"
    steps = []
    now = 100.0
    for _ in range(4):
        now += 31
        d = go(v, state, now=now)
        steps.append(d.action)
        if d.action:
            state = after_action(state, "hub-r2", d.action, now)
    assert steps == ["restart-vpn", "reboot", "replace", None]
    assert "escalation ladder exhausted" in d.reason and d.alert


def test_unreachable_ladder_skips_soft_fixes_and_never_goes_back_down() -> None:
    v = fleet(hub_r1=verdict("hub-r1", Health.FAILED, "unreachable", since=0))
    assert go(v).action == "reboot"
    state = after_action(LIVE, "hub-r1", "reboot", 100)
    # after the reboot the router answers but BGP is down: the next step is still stronger
    v2 = fleet(hub_r1=verdict("hub-r1", Health.FAILED, "bgp-ipsec-down", since=0))
    assert go(v2, state, now=140).action == "replace"


def test_degraded_is_never_acted_on() -> None:
    d = go(fleet(hub_r1=verdict("hub-r1", Health.DEGRADED, "bgp-ipsec-down", since=0)))
    assert not d.acts


def test_pair_guard_heals_longest_failed_first_and_waits_for_it() -> None:
    v = fleet(
        hub_r1=verdict("hub-r1", Health.FAILED, "unreachable", since=20),
        hub_r2=verdict("hub-r2", Health.FAILED, "unreachable", since=10),
    )
    d = go(v)
    assert (d.action, d.router) == ("reboot", "hub-r2")
    state = after_action(LIVE, "hub-r2", "reboot", 100)
    d = go(v, state, now=200)  # hub-r2's verify window is over: it escalates, hub-r1 waits
    assert (d.action, d.router) == ("replace", "hub-r2")
    state = after_action(state, "hub-r2", "replace", 200)
    d = go(v, state, now=240)
    assert (
        not d.acts
        and "hub-r1 waits: hub-r2 (same site) was acted on and is not healthy yet" in d.reason
    )
    healed = fleet(hub_r1=verdict("hub-r1", Health.FAILED, "unreachable", since=20))
    state = settle(state, healed, 250, SETTINGS)
    d = go(healed, state, now=260)
    assert (d.action, d.router) == ("reboot", "hub-r1")


def test_other_sites_are_not_blocked_by_the_pair_guard_but_one_heal_runs_at_a_time() -> None:
    v = fleet(spoke1_r1=verdict("spoke1-r1", Health.FAILED, "unreachable", since=0))
    busy = replace(LIVE, heals_in_progress={"hub-r1": "wait-ssh"})
    assert go(v, busy).reason == "no action: heal in progress (hub-r1 at wait-ssh)"


def test_pause_and_leader_stop_actions_but_say_what_would_happen() -> None:
    v = fleet(hub_r1=verdict("hub-r1", Health.FAILED, "unreachable", since=0))
    assert go(v, replace(LIVE, paused=True)).reason.startswith(
        "no action (paused): would reboot hub-r1"
    )
    assert go(v, replace(LIVE, leader=False)).reason.startswith(
        "no action (not leader): would reboot"
    )


def test_cooldown_after_an_episode() -> None:
    v = fleet(hub_r1=verdict("hub-r1", Health.FAILED, "unreachable", since=0))
    state = replace(LIVE, cooldown_until={"hub-r1": 400.0})
    assert go(v, state).reason == "no action: hub-r1 in cooldown (300 s left)"
    assert go(v, state, now=401).action == "reboot"


def test_managed_tag_and_backup_guards() -> None:
    v = fleet(hub_r1=verdict("hub-r1", Health.FAILED, "unreachable", since=0))
    unmanaged = replace(FACTS, managed={**FACTS.managed, "hub-r1": False})
    d = go(v, facts=unmanaged)
    assert not d.acts and "lacks the managed tag" in d.reason and d.alert
    state = after_action(LIVE, "hub-r1", "reboot", 0)
    no_backup = replace(FACTS, has_backup={**FACTS.has_backup, "hub-r1": False})
    d = go(v, state, now=100, facts=no_backup)
    assert (
        not d.acts and d.reason == "no action: refusing to replace hub-r1: no valid config backup"
    )


def test_circuit_breaker_trips_on_replacements_and_flaps_and_stays_open() -> None:
    v = fleet(hub_r1=verdict("hub-r1", Health.FAILED, "unreachable", since=0))
    state = replace(LIVE, replacements=(("hub-r1", 10.0), ("hub-r1", 50.0)))
    d = go(v, state)
    assert d.open_breaker == "hub-r1 was replaced 2 times in 24 h" and not d.acts
    opened = replace(state, breaker_open=True, breaker_reason=d.open_breaker)
    assert go(fleet(), opened).reason.startswith(
        "no action: all healthy; circuit breaker open (hub-r1 was replaced"
    )
    flappy = fleet(hub_r1=verdict("hub-r1", Health.HEALTHY, flaps=4))
    assert go(flappy).open_breaker == "hub-r1 flapped 4 times"
    fleetwide = replace(
        LIVE, replacements=(("hub-r1", 10.0), ("spoke1-r1", 20.0), ("hub-r2", 30.0))
    )
    assert go(fleet(), fleetwide).open_breaker == "3 replacements in the fleet within 1 h"


def test_settle_ends_episodes_of_healthy_routers() -> None:
    state = after_action(LIVE, "hub-r1", "reboot", 0)
    state = settle(state, fleet(), 50, SETTINGS)
    assert "hub-r1" not in state.episodes and state.cooldown_until["hub-r1"] == 350


def test_a_router_being_healed_is_never_given_a_second_heal() -> None:
    two = replace(SETTINGS, max_concurrent_heals=2)
    v = fleet(hub_r1=verdict("hub-r1", Health.FAILED, "unreachable", since=0))
    state = replace(LIVE, heals_in_progress={"hub-r1": "launch"})
    d = decide(v, state, FACTS, 500.0, two, observed="x")
    assert not d.acts and "hub-r1 is being healed (launch)" in d.reason


def test_a_stopped_instance_is_alerted_never_healed() -> None:
    v = fleet(hub_r1=verdict("hub-r1", Health.FAILED, "instance-stopped", since=0))
    d = go(v)
    assert not d.acts and "no healing for instance-stopped" in d.reason and d.alert


def test_flaps_outside_the_window_do_not_open_the_breaker() -> None:
    old_flaps = RouterVerdict(
        "hub-r1", "hub", "i-1", Health.HEALTHY, Health.HEALTHY, "x", flaps=0, flaps_total=9
    )
    assert go([old_flaps]).open_breaker is None
