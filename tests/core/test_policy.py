from __future__ import annotations

from dataclasses import dataclass, replace

from vpnwatch.config import HealConfig
from vpnwatch.core.decision import Decision
from vpnwatch.core.guards import after_action, settle
from vpnwatch.core.memory import GuardMemory
from vpnwatch.core.policy import Situation, decide
from vpnwatch.core.reason import reason_line
from vpnwatch.model import RouterVerdict
from vpnwatch.vocabulary import Action, FailureKind, Health

RULES = HealConfig.model_validate(
    {
        "ladder": {
            "bgp-ipsec-down": ["reset-bgp", "restart-vpn", "reboot", "replace"],
            "unreachable": ["reboot", "replace"],
        },
        "verify_windows": {"reset_bgp": 30, "restart_vpn": 30, "reboot": 30, "replace": 30},
        "cooldown": 300,
        "breaker": {
            "max_replacements_per_router_per_day": 2,
            "max_replacements_per_fleet_per_hour": 3,
            "max_flaps": 4,
        },
    }
)
SITES = {"hub-r1": "hub", "hub-r2": "hub", "spoke1-r1": "spoke1", "spoke1-r2": "spoke1"}
SITUATION = Situation(
    guards=GuardMemory(),
    site_of=SITES,
    managed=dict.fromkeys(SITES, True),
    has_backup=dict.fromkeys(SITES, True),
    busy={},
)
UNREACHABLE, DOWN = FailureKind.UNREACHABLE, FailureKind.TUNNELS_DOWN


def verdict(
    router: str,
    health: Health = Health.HEALTHY,
    kind: FailureKind | None = None,
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


@dataclass(frozen=True)
class Outcome:
    decision: Decision
    reason: str

    @property
    def action(self) -> Action | None:
        return self.decision.action

    @property
    def router(self) -> str | None:
        return self.decision.router


def go(
    verdicts: list[RouterVerdict],
    guards: GuardMemory | None = None,
    now: float = 100.0,
    situation: Situation = SITUATION,
    rules: HealConfig = RULES,
) -> Outcome:
    s = situation if guards is None else replace(situation, guards=guards)
    d = decide(verdicts, s, now, rules)
    return Outcome(d, reason_line(d, verdicts))


def test_all_healthy_is_no_action_with_the_observation_reason() -> None:
    o = go(fleet())
    assert not o.decision.acts and o.reason == "no action: 4/4 routers healthy"


def test_bgp_down_starts_with_reset_bgp_and_escalates_after_the_verify_window() -> None:
    v = fleet(hub_r2=verdict("hub-r2", Health.FAILED, DOWN, since=50))
    o = go(v)
    assert (o.action, o.router) == (Action.RESET_BGP, "hub-r2")
    assert o.reason == "resetting BGP on hub-r2: hub-r2 bgp-ipsec-down for 50 s"
    state = after_action(GuardMemory(), "hub-r2", Action.RESET_BGP, 100)
    assert go(v, state, now=110).reason == "no action: verifying reset-bgp on hub-r2 (20 s left)"
    steps = []
    now = 100.0
    for _ in range(4):
        now += 31
        o = go(v, state, now=now)
        steps.append(o.action)
        if o.action:
            state = after_action(state, "hub-r2", o.action, now)
    assert steps == [Action.RESTART_VPN, Action.REBOOT, Action.REPLACE, None]
    assert "escalation ladder exhausted" in o.reason and o.decision.alert


def test_unreachable_ladder_skips_soft_fixes_and_never_goes_back_down() -> None:
    v = fleet(hub_r1=verdict("hub-r1", Health.FAILED, UNREACHABLE, since=0))
    assert go(v).action is Action.REBOOT
    state = after_action(GuardMemory(), "hub-r1", Action.REBOOT, 100)
    # after the reboot the router answers but BGP is down: the next step is still stronger
    v2 = fleet(hub_r1=verdict("hub-r1", Health.FAILED, DOWN, since=0))
    assert go(v2, state, now=140).action is Action.REPLACE


def test_degraded_is_never_acted_on() -> None:
    o = go(fleet(hub_r1=verdict("hub-r1", Health.DEGRADED, DOWN, since=0)))
    assert not o.decision.acts


def test_pair_guard_heals_longest_failed_first_and_waits_for_it() -> None:
    v = fleet(
        hub_r1=verdict("hub-r1", Health.FAILED, UNREACHABLE, since=20),
        hub_r2=verdict("hub-r2", Health.FAILED, UNREACHABLE, since=10),
    )
    o = go(v)
    assert (o.action, o.router) == (Action.REBOOT, "hub-r2")
    state = after_action(GuardMemory(), "hub-r2", Action.REBOOT, 100)
    o = go(v, state, now=200)  # hub-r2's verify window is over: it escalates, hub-r1 waits
    assert (o.action, o.router) == (Action.REPLACE, "hub-r2")
    state = after_action(state, "hub-r2", Action.REPLACE, 200)
    o = go(v, state, now=240)
    assert (
        not o.decision.acts
        and "hub-r1 waits: hub-r2 (same site) was acted on and is not healthy yet" in o.reason
    )
    healed = fleet(hub_r1=verdict("hub-r1", Health.FAILED, UNREACHABLE, since=20))
    state = settle(state, healed, 250, RULES)
    o = go(healed, state, now=260)
    assert (o.action, o.router) == (Action.REBOOT, "hub-r1")


def test_other_sites_are_not_blocked_by_the_pair_guard_but_one_heal_runs_at_a_time() -> None:
    v = fleet(spoke1_r1=verdict("spoke1-r1", Health.FAILED, UNREACHABLE, since=0))
    busy = replace(SITUATION, busy={"hub-r1": "wait-ssh"})
    assert go(v, situation=busy).reason == "no action: heal in progress (hub-r1 at wait-ssh)"


def test_pause_and_leader_stop_actions_but_say_what_would_happen() -> None:
    v = fleet(hub_r1=verdict("hub-r1", Health.FAILED, UNREACHABLE, since=0))
    assert go(v, situation=replace(SITUATION, paused=True)).reason.startswith(
        "no action (paused): would reboot hub-r1"
    )
    assert go(v, situation=replace(SITUATION, leader=False)).reason.startswith(
        "no action (not leader): would reboot"
    )


def test_cooldown_after_an_episode() -> None:
    v = fleet(hub_r1=verdict("hub-r1", Health.FAILED, UNREACHABLE, since=0))
    state = GuardMemory(cooldown_until={"hub-r1": 400.0})
    assert go(v, state).reason == "no action: hub-r1 in cooldown (300 s left)"
    assert go(v, state, now=401).action is Action.REBOOT


def test_managed_tag_and_backup_guards() -> None:
    v = fleet(hub_r1=verdict("hub-r1", Health.FAILED, UNREACHABLE, since=0))
    unmanaged = replace(SITUATION, managed={**SITUATION.managed, "hub-r1": False})
    o = go(v, situation=unmanaged)
    assert not o.decision.acts and "lacks the managed tag" in o.reason and o.decision.alert
    state = after_action(GuardMemory(), "hub-r1", Action.REBOOT, 0)
    no_backup = replace(SITUATION, has_backup={**SITUATION.has_backup, "hub-r1": False})
    o = go(v, state, now=100, situation=no_backup)
    assert (
        not o.decision.acts
        and o.reason == "no action: refusing to replace hub-r1: no valid config backup"
    )


def test_circuit_breaker_trips_on_replacements_and_flaps_and_stays_open() -> None:
    v = fleet(hub_r1=verdict("hub-r1", Health.FAILED, UNREACHABLE, since=0))
    state = GuardMemory(replacements=(("hub-r1", 10.0), ("hub-r1", 50.0)))
    o = go(v, state)
    assert o.decision.opened_breaker == "hub-r1 was replaced 2 times in 24 h"
    assert not o.decision.acts
    assert o.reason == "no action: opening circuit breaker: hub-r1 was replaced 2 times in 24 h"
    opened = replace(state, breaker_open=True, breaker_reason="hub-r1 was replaced 2 times in 24 h")
    assert go(fleet(), opened).reason == (
        "no action: 4/4 routers healthy; circuit breaker open (hub-r1 was replaced 2 times in "
        "24 h): no actions until `vpnwatch heal --reset-breaker`"
    )
    flappy = fleet(hub_r1=verdict("hub-r1", Health.HEALTHY, flaps=4))
    assert go(flappy).decision.opened_breaker == "hub-r1 flapped 4 times"
    fleetwide = GuardMemory(replacements=(("hub-r1", 10.0), ("spoke1-r1", 20.0), ("hub-r2", 30.0)))
    assert (
        go(fleet(), fleetwide).decision.opened_breaker == "3 replacements in the fleet within 1 h"
    )


def test_settle_ends_episodes_of_healthy_routers() -> None:
    state = after_action(GuardMemory(), "hub-r1", Action.REBOOT, 0)
    state = settle(state, fleet(), 50, RULES)
    assert "hub-r1" not in state.episodes and state.cooldown_until["hub-r1"] == 350


def test_a_router_being_healed_is_never_given_a_second_heal() -> None:
    two = RULES.model_copy(update={"max_concurrent_heals": 2})
    v = fleet(hub_r1=verdict("hub-r1", Health.FAILED, UNREACHABLE, since=0))
    busy = replace(SITUATION, busy={"hub-r1": "launch"})
    o = go(v, now=500.0, situation=busy, rules=two)
    assert not o.decision.acts and "hub-r1 is being healed (launch)" in o.reason


def test_a_stopped_instance_is_alerted_never_healed() -> None:
    v = fleet(hub_r1=verdict("hub-r1", Health.FAILED, FailureKind.INSTANCE_STOPPED, since=0))
    o = go(v)
    assert not o.decision.acts and "no healing for instance-stopped" in o.reason
    assert o.decision.alert


def test_flaps_outside_the_window_do_not_open_the_breaker() -> None:
    old_flaps = RouterVerdict(
        "hub-r1", "hub", "i-1", Health.HEALTHY, Health.HEALTHY, "x", flaps=0, flaps_total=9
    )
    assert go([old_flaps]).decision.opened_breaker is None


def test_several_failed_routers_are_one_line() -> None:
    v = fleet(
        hub_r1=verdict("hub-r1", Health.FAILED, UNREACHABLE, since=0),
        spoke1_r1=verdict("spoke1-r1", Health.FAILED, UNREACHABLE, since=5),
    )
    paused = replace(SITUATION, paused=True)
    assert go(v, situation=paused).reason == (
        "no action (paused): would reboot hub-r1: hub-r1 unreachable for 100 s; "
        "no action (paused): would reboot spoke1-r1: spoke1-r1 unreachable for 95 s"
    )
