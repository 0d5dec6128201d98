"""Decisions with guards (DESIGN §4). Pure: verdicts + guard state + now → one Decision.

Every cycle yields exactly one Decision with a one-line reason, acted on or not. The guards
are checked in a fixed order so the reason names the first one that stopped an action:
heal in progress → breaker → pause → leader → ladder/verify window → pair guard → cooldown
→ managed tag → backup (replace only).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from vpnwatch.model import Health, RouterVerdict

# Escalation order: an action is only ever followed by a stronger one in the same episode.
SEVERITY = {"reset-bgp": 0, "restart-vpn": 1, "reboot": 2, "stop-start": 3, "replace": 4}
ACTIONS = tuple(SEVERITY)


@dataclass(frozen=True)
class PolicySettings:
    ladders: Mapping[str, tuple[str, ...]]  # failure kind → actions, weakest first
    verify_windows: Mapping[str, float]  # action → seconds to wait before escalating
    cooldown: float  # seconds after an episode ends before the router may be acted on again
    max_replacements_per_router_per_day: int
    max_replacements_per_fleet_per_hour: int
    max_flaps: int  # flaps within the flap window that open the breaker
    max_concurrent_heals: int = 1


@dataclass(frozen=True)
class Episode:
    """The escalation state of one router's current failure."""

    last_action: str
    last_action_at: float
    started_at: float


@dataclass(frozen=True)
class GuardState:
    dry_run: bool = True
    paused: bool = False
    leader: bool = True
    breaker_open: bool = False
    breaker_reason: str = ""
    episodes: Mapping[str, Episode] = field(default_factory=dict)
    cooldown_until: Mapping[str, float] = field(default_factory=dict)
    replacements: tuple[tuple[str, float], ...] = ()  # (router, when)
    heals_in_progress: Mapping[str, str] = field(default_factory=dict)  # router → step


@dataclass(frozen=True)
class FleetFacts:
    """What the policy needs to know beyond the verdicts."""

    site_of: Mapping[str, str]
    managed: Mapping[str, bool]  # instance carries the managed tag
    has_backup: Mapping[str, bool]


@dataclass(frozen=True)
class Decision:
    reason: str
    action: str | None = None
    router: str | None = None
    alert: str | None = None  # something an operator should look at
    open_breaker: str | None = None  # set → the caller opens the breaker with this reason

    @property
    def acts(self) -> bool:
        return self.action is not None


def _partner_busy(
    router: str, facts: FleetFacts, state: GuardState, verdicts: Mapping[str, RouterVerdict]
) -> str | None:
    site = facts.site_of.get(router)
    for other, other_site in facts.site_of.items():
        if other == router or other_site != site:
            continue
        if other in state.heals_in_progress:
            return f"{other} (same site) is being healed"
        episode = state.episodes.get(other)
        verdict = verdicts.get(other)
        if episode is not None and (verdict is None or verdict.health is not Health.HEALTHY):
            return f"{other} (same site) was acted on and is not healthy yet"
    return None


def _next_action(kind: str, episode: Episode | None, settings: PolicySettings) -> str | None:
    ladder = settings.ladders.get(kind, ())
    floor = -1 if episode is None else SEVERITY[episode.last_action]
    return next((a for a in ladder if SEVERITY[a] > floor), None)


def breaker_trip(
    verdicts: Sequence[RouterVerdict], state: GuardState, now: float, settings: PolicySettings
) -> str | None:
    """Why the breaker should open now, or None."""
    day = [r for r, t in state.replacements if now - t < 86_400]
    for router in sorted(set(day)):
        if day.count(router) >= settings.max_replacements_per_router_per_day:
            return f"{router} was replaced {day.count(router)} times in 24 h"
    hour = [r for r, t in state.replacements if now - t < 3_600]
    if len(hour) >= settings.max_replacements_per_fleet_per_hour:
        return f"{len(hour)} replacements in the fleet within 1 h"
    for v in verdicts:
        if v.flaps >= settings.max_flaps:
            return f"{v.router} flapped {v.flaps} times"
    return None


def decide(
    verdicts: Sequence[RouterVerdict],
    state: GuardState,
    facts: FleetFacts,
    now: float,
    settings: PolicySettings,
    *,
    observed: str,
) -> Decision:
    """`observed` is the cycle's observation summary, used when nothing needs doing."""
    by_name = {v.router: v for v in verdicts}
    failed = sorted(
        (v for v in verdicts if v.health is Health.FAILED),
        key=lambda v: (v.failed_since if v.failed_since is not None else now, v.router),
    )
    if state.heals_in_progress and len(state.heals_in_progress) >= settings.max_concurrent_heals:
        busy = ", ".join(f"{r} at {s}" for r, s in sorted(state.heals_in_progress.items()))
        return Decision(f"no action: heal in progress ({busy})")
    if state.breaker_open:
        return Decision(  # still say what is seen: the operator needs it to decide
            f"{observed}; circuit breaker open ({state.breaker_reason}): no actions until "
            "`vpnwatch heal --reset-breaker`",
            alert="circuit breaker open",
        )
    trip = breaker_trip(verdicts, state, now, settings)
    if trip is not None:
        return Decision(
            f"no action: opening circuit breaker: {trip}", alert=trip, open_breaker=trip
        )
    if not failed:
        return Decision(observed)
    waits: list[Decision] = []
    for v in failed:
        decision = _decide_one(v, by_name, state, facts, now, settings)
        if decision.acts:
            return decision
        waits.append(decision)
    first, *rest = waits
    tail = "".join("; " + d.reason.removeprefix("no action: ") for d in rest)
    alert = next((d.alert for d in waits if d.alert), None)
    return Decision(first.reason + tail, alert=alert)


def _decide_one(
    v: RouterVerdict,
    by_name: Mapping[str, RouterVerdict],
    state: GuardState,
    facts: FleetFacts,
    now: float,
    settings: PolicySettings,
) -> Decision:
    r = v.router
    if r in state.heals_in_progress:
        return Decision(f"no action: {r} is being healed ({state.heals_in_progress[r]})")
    failed_for = now - v.failed_since if v.failed_since is not None else 0.0
    what = f"{r} {v.failure_kind or 'failed'} for {failed_for:.0f} s"
    if v.failure_kind is None:
        return Decision(f"no action: {what}: failure kind unknown")
    episode = state.episodes.get(r)
    window = settings.verify_windows.get(episode.last_action, 0.0) if episode else 0.0
    if episode is not None and now - episode.last_action_at < window:
        left = window - (now - episode.last_action_at)
        return Decision(f"no action: verifying {episode.last_action} on {r} ({left:.0f} s left)")
    if not settings.ladders.get(v.failure_kind):
        return Decision(
            f"no action: {what}: no healing for {v.failure_kind} (alert only)",
            alert=f"{r} {v.failure_kind}",
        )
    action = _next_action(v.failure_kind, episode, settings)
    if action is None:
        tried = episode.last_action if episode else "nothing"
        return Decision(
            f"no action: {what}: escalation ladder exhausted (last: {tried}); needs an operator",
            alert=f"{r} still failed after the whole ladder",
        )
    if state.paused:
        return Decision(f"no action (paused): would {action} {r}: {what}")
    if not state.leader:
        return Decision(f"no action (not leader): would {action} {r}: {what}")
    busy = _partner_busy(r, facts, state, by_name)
    if busy is not None:
        return Decision(f"no action: {r} waits: {busy}")
    if episode is None and now < state.cooldown_until.get(r, 0.0):
        left = state.cooldown_until[r] - now
        return Decision(f"no action: {r} in cooldown ({left:.0f} s left)")
    if not facts.managed.get(r, False):
        return Decision(
            f"no action: refusing to touch {r}: its instance lacks the managed tag",
            alert=f"{r} failed but is not managed",
        )
    if action == "replace" and not facts.has_backup.get(r, False):
        return Decision(
            f"no action: refusing to replace {r}: no valid config backup",
            alert=f"{r} needs replacement but has no valid backup",
        )
    verb = {
        "reset-bgp": "resetting BGP on",
        "restart-vpn": "restarting VPN on",
        "reboot": "rebooting",
        "stop-start": "stopping and starting",
        "replace": "replacing",
    }[action]
    return Decision(f"{verb} {r}: {what}", action=action, router=r)


def after_action(state: GuardState, router: str, action: str, now: float) -> GuardState:
    """Record that `action` was taken (or would have been, in dry-run) on `router`."""
    episode = state.episodes.get(router)
    episodes = dict(state.episodes)
    episodes[router] = Episode(action, now, episode.started_at if episode else now)
    replacements = state.replacements
    if action == "replace":
        replacements = (*replacements, (router, now))
    return replace(state, episodes=episodes, replacements=replacements)


def settle(
    state: GuardState, verdicts: Sequence[RouterVerdict], now: float, settings: PolicySettings
) -> GuardState:
    """End the episodes of routers that are healthy again; start their cooldown."""
    healthy = {v.router for v in verdicts if v.health is Health.HEALTHY}
    ended = [r for r in state.episodes if r in healthy]
    if not ended:
        return state
    episodes = {r: e for r, e in state.episodes.items() if r not in ended}
    cooldown = dict(state.cooldown_until)
    for r in ended:
        cooldown[r] = now + settings.cooldown
    week = now - 7 * 86_400  # keep the history bounded
    return replace(
        state,
        episodes=episodes,
        cooldown_until={r: t for r, t in cooldown.items() if t > now},
        replacements=tuple((r, t) for r, t in state.replacements if t > week),
    )


def manual_refusal(
    router: str,
    action: str,
    verdicts: Sequence[RouterVerdict],
    state: GuardState,
    facts: FleetFacts,
) -> str | None:
    """Why a hand-triggered heal must not run (the same guards, minus hysteresis)."""
    if action not in SEVERITY:
        return f"unknown action {action!r} (one of {', '.join(ACTIONS)})"
    if router not in facts.site_of:
        return f"unknown router {router!r}"
    if state.heals_in_progress:
        busy = ", ".join(sorted(state.heals_in_progress))
        return f"a heal is already in progress ({busy})"
    if state.breaker_open:
        return f"circuit breaker open ({state.breaker_reason}); reset it first"
    if state.paused:
        return "actions are paused"
    if not state.leader:
        return "not the leader"
    by_name = {v.router: v for v in verdicts}
    busy_partner = _partner_busy(router, facts, state, by_name)
    if busy_partner is not None:
        return f"pair guard: {busy_partner}"
    site = facts.site_of[router]
    mine = by_name.get(router)
    # One cycle cannot pass the hysteresis: what counts here is this cycle's raw verdict.
    itself_failed = mine is not None and mine.raw_health is Health.FAILED
    for other, other_site in facts.site_of.items():
        verdict = by_name.get(other)
        partner_down = verdict is None or verdict.health is not Health.HEALTHY
        if other != router and other_site == site and partner_down and not itself_failed:
            return (
                f"pair guard: {other} (same site) is not healthy and {router} still works: "
                "healing it now could cut the site off"
            )
    if not facts.managed.get(router, False):
        return f"{router}'s instance lacks the managed tag"
    if action == "replace" and not facts.has_backup.get(router, False):
        return f"no valid config backup for {router}"
    return None
