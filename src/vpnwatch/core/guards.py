"""Transitions of the guard memory: an action taken, episodes ending, the breaker opening
and closing, an abandoned heal undone. Pure: memory in, memory out."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from vpnwatch.config import HealConfig
from vpnwatch.core.memory import Episode, GuardMemory
from vpnwatch.model import RouterVerdict
from vpnwatch.vocabulary import Action, Health

DAY = 86_400.0
HOUR = 3_600.0
HISTORY = 7 * DAY  # replacements older than this are forgotten


def breaker_trip(
    verdicts: Sequence[RouterVerdict], guards: GuardMemory, now: float, rules: HealConfig
) -> str | None:
    """Why the breaker should open now, or None."""
    limits = rules.breaker
    day = [r for r, t in guards.replacements if now - t < DAY]
    for router in sorted(set(day)):
        if day.count(router) >= limits.max_replacements_per_router_per_day:
            return f"{router} was replaced {day.count(router)} times in 24 h"
    hour = [r for r, t in guards.replacements if now - t < HOUR]
    if len(hour) >= limits.max_replacements_per_fleet_per_hour:
        return f"{len(hour)} replacements in the fleet within 1 h"
    for v in verdicts:
        if v.flaps >= limits.max_flaps:
            return f"{v.router} flapped {v.flaps} times"
    return None


def open_breaker(guards: GuardMemory, reason: str) -> GuardMemory:
    return replace(guards, breaker_open=True, breaker_reason=reason)


def reset_breaker(guards: GuardMemory) -> GuardMemory:
    """An operator closed the breaker: it starts counting replacements afresh."""
    return replace(guards, breaker_open=False, breaker_reason="", replacements=())


def after_action(guards: GuardMemory, router: str, action: Action, now: float) -> GuardMemory:
    """Record that `action` was taken (or would have been, in dry-run) on `router`."""
    episode = guards.episodes.get(router)
    episodes = dict(guards.episodes)
    episodes[router] = Episode(action, now, episode.started_at if episode else now)
    replacements = guards.replacements
    if action is Action.REPLACE:
        replacements = (*replacements, (router, now))
    return replace(guards, episodes=episodes, replacements=replacements)


def settle(
    guards: GuardMemory, verdicts: Sequence[RouterVerdict], now: float, rules: HealConfig
) -> GuardMemory:
    """End the episodes of routers that are healthy again; start their cooldown."""
    healthy = {v.router for v in verdicts if v.health is Health.HEALTHY}
    ended = [r for r in guards.episodes if r in healthy]
    if not ended:
        return guards
    episodes = {r: e for r, e in guards.episodes.items() if r not in ended}
    cooldown = dict(guards.cooldown_until)
    for r in ended:
        cooldown[r] = now + rules.cooldown
    return replace(
        guards,
        episodes=episodes,
        cooldown_until={r: t for r, t in cooldown.items() if t > now},
        replacements=tuple((r, t) for r, t in guards.replacements if t > now - HISTORY),
    )


def forget_abandoned(guards: GuardMemory, routers: Iterable[str]) -> GuardMemory:
    """Heals abandoned before their point of no return did not happen: their routers'
    escalation starts afresh, and an abandoned replacement replaced nothing."""
    gone = set(routers)
    if not gone & set(guards.episodes):
        return guards
    undone = {
        (r, e.last_action_at)
        for r, e in guards.episodes.items()
        if r in gone and e.last_action is Action.REPLACE
    }
    return replace(
        guards,
        episodes={r: e for r, e in guards.episodes.items() if r not in gone},
        replacements=tuple(x for x in guards.replacements if x not in undone),
    )
