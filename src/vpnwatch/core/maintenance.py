"""AWS's tunnel endpoint maintenance, as the pure core sees it (issue 12).

- Which down tunnels AWS's maintenance explains: a tunnel DOWN on AWS while its replacement
  status says maintenance is pending, or was applied within `maintenance.recent` seconds.
  `core/health` leaves them out of the router's judgment.
- Which tunnel action this cycle takes, if no heal starts: re-initiate IKE on a tunnel whose
  endpoint AWS replaced and the router did not bring back (IKEv1 or a passive startup action
  leave it down), or, in the controlled window, apply pending maintenance to one healthy
  tunnel whose partner tunnel and partner router are healthy. One action per cycle, each
  through the guards every heal passes (pause, leader, pair guard, managed tag).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from vpnwatch.config import Config
from vpnwatch.core.decision import TunnelStep, TunnelWait
from vpnwatch.core.health import ipsec_up, tunnels_good
from vpnwatch.core.memory import GuardMemory, MaintenanceApplied, TunnelEpisode
from vpnwatch.core.policy import Situation, partner_busy
from vpnwatch.core.reason import maintenance_note
from vpnwatch.maintenance_config import MaintenanceWindow
from vpnwatch.model import RouterObservation, RouterVerdict, Snapshot, TunnelMaintenance
from vpnwatch.vocabulary import Health, Hold, TunnelAction, TunnelStatus

Key = tuple[str, str]  # (vpn connection id, tunnel outside IP)


def tunnel_id(key: Key) -> str:
    return f"{key[0]}/{key[1]}"


@dataclass(frozen=True)
class Explained:
    """A down tunnel AWS's maintenance explains."""

    router: str
    applied_ago: float | None  # seconds since AWS applied it; None: pending, not applied yet
    note: str


def applied_ago(m: TunnelMaintenance | None, now: float, recent: float) -> float | None:
    """Seconds since AWS applied maintenance to the tunnel, if within `recent`."""
    if m is None or m.last_applied is None:
        return None
    since = now - m.last_applied
    return max(0.0, since) if since <= recent else None


def explained_tunnels(
    snapshot: Snapshot, maintenance: Mapping[Key, TunnelMaintenance], now: float, recent: float
) -> dict[Key, Explained]:
    out: dict[Key, Explained] = {}
    for obs in snapshot.routers:
        if not obs.aws.known:
            continue
        for t in obs.aws.tunnels:
            key = (t.vpn_connection_id, t.outside_ip)
            m = maintenance.get(key)
            if t.status is not TunnelStatus.DOWN or m is None:
                continue
            ago = applied_ago(m, now, recent)
            if ago is not None or m.pending:
                out[key] = Explained(obs.name, ago, maintenance_note(t.outside_ip, ago))
    return out


# ---------------------------------------------------------------- the window


def in_window(window: MaintenanceWindow, now: float) -> bool:
    at = datetime.fromtimestamp(now, UTC)
    minute = at.hour * 60 + at.minute
    start, end, days = window.start_minute, window.end_minute, window.weekdays
    if start < end:
        return at.weekday() in days and start <= minute < end
    # past midnight: the evening of a start day, or the morning after one
    return (at.weekday() in days and minute >= start) or (
        (at.weekday() - 1) % 7 in days and minute < end
    )


def next_window_start(window: MaintenanceWindow, now: float) -> float:
    """When the window is open next (now, if it is open)."""
    if in_window(window, now):
        return now
    at = datetime.fromtimestamp(now, UTC).replace(second=0, microsecond=0)
    midnight = at.replace(hour=0, minute=0)
    for day in range(8):
        start = midnight + timedelta(days=day, minutes=window.start_minute)
        if start.weekday() in window.weekdays and start.timestamp() > now:
            return start.timestamp()
    raise AssertionError("a window with at least one day opens within a week")


# ---------------------------------------------------------------- memory


def settle_tunnels(
    guards: GuardMemory,
    snapshot: Snapshot,
    explained: Mapping[Key, Explained],
    now: float,
    recent: float,
) -> GuardMemory:
    """Forget re-initiation episodes of tunnels that are back (or no longer AWS's doing);
    end the applied maintenance once its tunnel went down and came back (or never did)."""
    status = {
        (t.vpn_connection_id, t.outside_ip): t.status
        for o in snapshot.routers
        if o.aws.known
        for t in o.aws.tunnels
    }
    ids = {tunnel_id(k): k for k in status}
    episodes = {
        tid: e
        for tid, e in guards.tunnels.items()
        if tid in ids and ids[tid] in explained and status[ids[tid]] is not TunnelStatus.UP
    }
    applied = guards.applied
    if applied is not None:
        key = ids.get(applied.tunnel)
        state = status.get(key) if key is not None else None
        back = state is TunnelStatus.UP and (applied.seen_down or now - applied.at > recent)
        gone = key is None and now - applied.at > recent  # the connection went away
        if state is TunnelStatus.DOWN:
            applied = replace(applied, seen_down=True)
        elif back or gone:
            applied = None
    if episodes == dict(guards.tunnels) and applied == guards.applied:
        return guards
    return replace(guards, tunnels=episodes, applied=applied)


# ---------------------------------------------------------------- decisions


@dataclass(frozen=True)
class TunnelChoice:
    step: TunnelStep | None
    waits: tuple[TunnelWait, ...]
    guards: GuardMemory


def _held(
    router: str, situation: Situation, by_name: Mapping[str, RouterVerdict]
) -> tuple[Hold, str] | None:
    """The guards every heal passes, in the policy's order."""
    if situation.paused:
        return Hold.PAUSED, ""
    if not situation.leader:
        return Hold.NOT_LEADER, ""
    busy = partner_busy(router, situation, by_name)
    if busy is not None:
        return Hold.PAIR_GUARD, busy
    if not situation.managed.get(router, False):
        return Hold.UNMANAGED, f"{router}'s instance lacks the managed tag"
    return None


def _reinitiation(
    snapshot: Snapshot,
    by_name: Mapping[str, RouterVerdict],
    explained: Mapping[Key, Explained],
    guards: GuardMemory,
    now: float,
    config: Config,
) -> tuple[list[tuple[float, RouterObservation, Key, int]], list[TunnelWait]]:
    """Tunnels due a re-initiation (longest down first), and those that used them all up."""
    rules = config.maintenance.reinitiate
    observed = {o.name: o for o in snapshot.routers}
    due: list[tuple[float, RouterObservation, Key, int]] = []
    waits: list[TunnelWait] = []
    for key, ex in explained.items():
        obs = observed[ex.router]
        ssh, verdict = obs.ssh, by_name.get(ex.router)
        if ex.applied_ago is None or ex.applied_ago < rules.after:
            continue  # AWS has not applied it yet, or its new endpoint may not be up yet
        if ssh is None or not ssh.reachable or ssh.error_kind is not None:
            continue  # the router's side is not ready (or not seen): nothing to initiate from
        if ipsec_up(obs).get(key[1], False) or verdict is None:
            continue  # the router holds the SA: AWS's telemetry will follow
        if verdict.health is Health.FAILED:
            continue  # a router fault: its ladder acts, not this
        episode = guards.tunnels.get(tunnel_id(key))
        if episode is not None and now - episode.last_at < rules.verify_window:
            continue  # verifying the last attempt
        attempts = episode.attempts if episode is not None else 0
        if attempts >= rules.attempts:
            waits.append(
                TunnelWait(
                    ex.router, key[1], Hold.LADDER_EXHAUSTED, TunnelAction.REINITIATE_IKE,
                    attempts=attempts,
                )
            )  # fmt: skip
            continue
        due.append((ex.applied_ago, obs, key, attempts + 1))
    due.sort(key=lambda d: (-d[0], d[1].name, d[2]))
    return due, waits


def _appliable(
    snapshot: Snapshot,
    by_name: Mapping[str, RouterVerdict],
    maintenance: Mapping[Key, TunnelMaintenance],
    situation: Situation,
    config: Config,
) -> list[tuple[float, RouterObservation, Key]]:
    """Healthy tunnels with maintenance pending under lifecycle control whose connection
    partner and partner router are healthy (soonest auto-apply first)."""
    min_prefixes = {r.name: s.expect.min_prefixes for s in config.sites for r in s.routers}
    out = []
    for obs in snapshot.routers:
        verdict = by_name.get(obs.name)
        if not obs.aws.known or verdict is None or verdict.health is not Health.HEALTHY:
            continue
        site = situation.site_of.get(obs.name)
        partners = [r for r, s in situation.site_of.items() if s == site and r != obs.name]
        if any(by_name.get(p) is None or by_name[p].health is not Health.HEALTHY for p in partners):
            continue
        good = tunnels_good(obs, min_prefixes.get(obs.name, 1))
        for conn in obs.aws.connections:
            keys = [(t.vpn_connection_id, t.outside_ip) for t in conn.tunnels]
            if not keys or not all(good.get(k, False) for k in keys):
                continue  # the partner tunnel (and this one) must be up
            for tunnel in conn.tunnels:
                key = (tunnel.vpn_connection_id, tunnel.outside_ip)
                m = maintenance.get(key)
                if m is None or not m.pending or tunnel.lifecycle_control is not True:
                    continue
                due = m.auto_apply_after if m.auto_apply_after is not None else float("inf")
                out.append((due, obs, key))
    out.sort(key=lambda d: (d[0], d[1].name, d[2]))
    return out


def decide_tunnels(
    snapshot: Snapshot,
    verdicts: Sequence[RouterVerdict],
    situation: Situation,
    maintenance: Mapping[Key, TunnelMaintenance],
    explained: Mapping[Key, Explained],
    now: float,
    config: Config,
) -> TunnelChoice:
    """At most one tunnel action this cycle (the caller asks only when no heal starts)."""
    rules = config.maintenance
    guards = situation.guards
    if not rules.enabled:
        return TunnelChoice(None, (), guards)
    by_name = {v.router: v for v in verdicts}
    waits: list[TunnelWait] = []
    if rules.reinitiate.enabled:
        due, waits = _reinitiation(snapshot, by_name, explained, guards, now, config)
        for ago, obs, key, attempt in due:
            if obs.name in situation.busy:
                continue
            held = _held(obs.name, situation, by_name)
            action = TunnelAction.REINITIATE_IKE
            if held is not None:
                waits.append(TunnelWait(obs.name, key[1], held[0], action, held[1]))
                break
            step = TunnelStep(
                action, obs.name, key[0], key[1], ago, attempt, rules.reinitiate.attempts
            )
            episodes = dict(guards.tunnels)
            first = episodes.get(tunnel_id(key))
            episodes[tunnel_id(key)] = TunnelEpisode(
                attempt, now, first.started_at if first is not None else now
            )
            return TunnelChoice(step, tuple(waits), replace(guards, tunnels=episodes))
    window = rules.apply.window
    if not rules.apply.enabled or window is None or not in_window(window, now):
        return TunnelChoice(None, tuple(waits), guards)
    if guards.applied is not None or explained:
        return TunnelChoice(None, tuple(waits), guards)  # one tunnel at a time, fleet-wide
    for when, obs, key in _appliable(snapshot, by_name, maintenance, situation, config):
        if obs.name in situation.busy:
            continue
        held = _held(obs.name, situation, by_name)
        action = TunnelAction.APPLY_MAINTENANCE
        if held is not None:
            waits.append(TunnelWait(obs.name, key[1], held[0], action, held[1]))
            break
        left = None if when == float("inf") else max(0.0, when - now)
        step = TunnelStep(action, obs.name, key[0], key[1], auto_apply_after=left)
        applied = MaintenanceApplied(tunnel_id(key), now)
        return TunnelChoice(step, tuple(waits), replace(guards, applied=applied))
    return TunnelChoice(None, tuple(waits), guards)


def explained_notes(explained: Iterable[tuple[Key, Explained]]) -> dict[Key, str]:
    return {key: ex.note for key, ex in explained}
