"""Which heal to start, if any: verdicts + guard memory + the situation → one Decision.

The guards are checked in a fixed order, so a Decision names the first one that stopped an
action: heal in progress → breaker → (per failed router) being healed → verify window →
ladder → pause → leader → pair guard → cooldown → managed tag → backup (replace only).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from vpnwatch.config import HealConfig
from vpnwatch.core.decision import Decision, Wait
from vpnwatch.core.guards import breaker_trip
from vpnwatch.core.memory import Episode, GuardMemory
from vpnwatch.model import RouterVerdict
from vpnwatch.vocabulary import Action, FailureKind, Health, Hold


@dataclass(frozen=True)
class Situation:
    """What the guards look at besides the verdicts."""

    guards: GuardMemory
    site_of: Mapping[str, str]
    managed: Mapping[str, bool]  # the instance carries the managed tag
    has_backup: Mapping[str, bool]
    busy: Mapping[str, str]  # router → step of every unfinished heal
    paused: bool = False
    leader: bool = True


def partner_busy(
    router: str, situation: Situation, verdicts: Mapping[str, RouterVerdict]
) -> str | None:
    """The pair guard: why the other router of `router`'s site forbids acting now."""
    site = situation.site_of.get(router)
    for other, other_site in situation.site_of.items():
        if other == router or other_site != site:
            continue
        if other in situation.busy:
            return f"{other} (same site) is being healed"
        episode = situation.guards.episodes.get(other)
        verdict = verdicts.get(other)
        if episode is not None and (verdict is None or verdict.health is not Health.HEALTHY):
            return f"{other} (same site) was acted on and is not healthy yet"
    return None


def next_action(kind: FailureKind, episode: Episode | None, rules: HealConfig) -> Action | None:
    floor = -1 if episode is None else episode.last_action.severity
    return next((a for a in rules.ladder.get(kind, ()) if a.severity > floor), None)


def decide(
    verdicts: Sequence[RouterVerdict], situation: Situation, now: float, rules: HealConfig
) -> Decision:
    by_name = {v.router: v for v in verdicts}
    failed = sorted(
        (v for v in verdicts if v.health is Health.FAILED),
        key=lambda v: (v.failed_since if v.failed_since is not None else now, v.router),
    )
    busy = situation.busy
    if busy and len(busy) >= rules.max_concurrent_heals:
        steps = ", ".join(f"{r} at {s}" for r, s in sorted(busy.items()))
        return Decision(hold=Hold.HEAL_IN_PROGRESS, detail=steps)
    if situation.guards.breaker_open:
        return Decision(
            hold=Hold.BREAKER_OPEN,
            detail=situation.guards.breaker_reason,
            alert="circuit breaker open",
        )
    trip = breaker_trip(verdicts, situation.guards, now, rules)
    if trip is not None:
        return Decision(hold=Hold.BREAKER_OPENING, detail=trip, alert=trip, opened_breaker=trip)
    waits: list[Wait] = []
    for v in failed:
        decision = _decide_one(v, by_name, situation, now, rules)
        if isinstance(decision, Decision):
            return decision
        waits.append(decision)
    alert = next((w.alert for w in waits if w.alert), None)
    return Decision(waits=tuple(waits), alert=alert)


def _decide_one(
    v: RouterVerdict,
    by_name: Mapping[str, RouterVerdict],
    situation: Situation,
    now: float,
    rules: HealConfig,
) -> Decision | Wait:
    r = v.router
    if r in situation.busy:
        return Wait(Hold.BEING_HEALED, r, detail=situation.busy[r])
    failed_for = now - v.failed_since if v.failed_since is not None else 0.0
    what = f"{r} {v.failure_kind or 'failed'} for {failed_for:.0f} s"
    if v.failure_kind is None:
        return Wait(Hold.KIND_UNKNOWN, r, what)
    episode = situation.guards.episodes.get(r)
    window = rules.verify_windows.for_action(episode.last_action) if episode else 0.0
    if episode is not None and now - episode.last_action_at < window:
        left = window - (now - episode.last_action_at)
        return Wait(Hold.VERIFYING, r, what, episode.last_action, seconds_left=left)
    if not rules.ladder.get(v.failure_kind):
        return Wait(Hold.ALERT_ONLY, r, what, detail=v.failure_kind, alert=f"{r} {v.failure_kind}")
    action = next_action(v.failure_kind, episode, rules)
    if action is None:
        tried = str(episode.last_action) if episode else "nothing"
        alert = f"{r} still failed after the whole ladder"
        return Wait(Hold.LADDER_EXHAUSTED, r, what, detail=tried, alert=alert)
    if situation.paused:
        return Wait(Hold.PAUSED, r, what, action)
    if not situation.leader:
        return Wait(Hold.NOT_LEADER, r, what, action)
    busy = partner_busy(r, situation, by_name)
    if busy is not None:
        return Wait(Hold.PAIR_GUARD, r, what, action, detail=busy)
    if episode is None and now < situation.guards.cooldown_until.get(r, 0.0):
        left = situation.guards.cooldown_until[r] - now
        return Wait(Hold.COOLDOWN, r, what, action, seconds_left=left)
    if not situation.managed.get(r, False):
        return Wait(Hold.UNMANAGED, r, what, action, alert=f"{r} failed but is not managed")
    if action is Action.REPLACE and not situation.has_backup.get(r, False):
        alert = f"{r} needs replacement but has no valid backup"
        return Wait(Hold.NO_BACKUP, r, what, action, alert=alert)
    return Decision(action=action, router=r, failure=what)


def refusal(
    router: str,
    action: Action,
    verdicts: Sequence[RouterVerdict],
    situation: Situation,
) -> str | None:
    """Why an operator's heal request must not run (the same guards, minus hysteresis)."""
    if router not in situation.site_of:
        return f"unknown router {router!r}"
    if situation.busy:
        return f"a heal is already in progress ({', '.join(sorted(situation.busy))})"
    if situation.guards.breaker_open:
        return f"circuit breaker open ({situation.guards.breaker_reason}); reset it first"
    if situation.paused:
        return "actions are paused"
    if not situation.leader:
        return "not the leader"
    by_name = {v.router: v for v in verdicts}
    busy_partner = partner_busy(router, situation, by_name)
    if busy_partner is not None:
        return f"pair guard: {busy_partner}"
    site = situation.site_of[router]
    mine = by_name.get(router)
    # One cycle cannot pass the hysteresis: what counts here is this cycle's raw verdict.
    itself_failed = mine is not None and mine.raw_health is Health.FAILED
    for other, other_site in situation.site_of.items():
        verdict = by_name.get(other)
        partner_down = verdict is None or verdict.health is not Health.HEALTHY
        if other != router and other_site == site and partner_down and not itself_failed:
            return (
                f"pair guard: {other} (same site) is not healthy and {router} still works: "
                "healing it now could cut the site off"
            )
    if not situation.managed.get(router, False):
        return f"{router}'s instance lacks the managed tag"
    if action is Action.REPLACE and not situation.has_backup.get(router, False):
        return f"no valid config backup for {router}"
    return None
