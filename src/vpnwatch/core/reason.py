"""The one-line reason of a cycle, Patroni style: the only place it is worded.

"no action: 6/6 routers healthy", "rebooting hub-r1: hub-r1 unreachable for 20 s",
"no action: verifying reboot on hub-r1 (240 s left); spoke1-r2 in cooldown (30 s left)".
Tests, operators and alert runbooks read these lines: change a wording only on purpose.
"""

from __future__ import annotations

from collections.abc import Sequence

from vpnwatch.core.decision import Decision, TunnelStep, TunnelWait, Wait
from vpnwatch.model import RouterVerdict
from vpnwatch.vocabulary import Health, Hold, TunnelAction

_RESET_HINT = "`vpnwatch heal --reset-breaker`"


def observation(verdicts: Sequence[RouterVerdict]) -> str:
    """What was seen: "no action: 6/6 routers healthy" or "no action: hub-r1 failed (...);
    5/6 healthy" (the worst three routers named)."""
    if not verdicts:
        return "no action: no routers configured"
    healthy = [v for v in verdicts if v.health is Health.HEALTHY]
    others = [v for v in verdicts if v.health is not Health.HEALTHY]
    total = len(verdicts)
    if not others:
        return f"no action: {total}/{total} routers healthy"
    order = {Health.FAILED: 0, Health.DEGRADED: 1, Health.UNKNOWN: 2}
    others.sort(key=lambda v: (order.get(v.health, 3), v.router))
    parts = [
        f"{v.router} {v.health.value}: {v.reason.removeprefix(v.router + ': ')}" for v in others[:3]
    ]
    more = f"; +{len(others) - 3} more" if len(others) > 3 else ""
    return f"no action: {'; '.join(parts)}{more}; {len(healthy)}/{total} healthy"


def ago(seconds: float) -> str:
    """ "40 s", "3 min", "2.5 h": how long ago, as an operator reads it."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def maintenance_note(outside_ip: str, applied_ago: float | None) -> str:
    """Why a down tunnel is AWS's doing: "tunnel 198.51.100.7: AWS endpoint maintenance
    (applied 3 min ago)", or "(pending)" before AWS says it applied it."""
    when = "pending" if applied_ago is None else f"applied {ago(applied_ago)} ago"
    return f"tunnel {outside_ip}: AWS endpoint maintenance ({when})"


def tunnel_step_text(step: TunnelStep) -> str:
    """ "re-initiating IKE on spoke1-r1 for tunnel X: AWS endpoint maintenance (applied
    3 min ago), still down (attempt 1/3)"."""
    if step.action is TunnelAction.REINITIATE_IKE:
        note = maintenance_note(step.outside_ip, step.applied_ago)
        return (
            f"{step.action.verb} {step.router} for {note}, still down "
            f"(attempt {step.attempt}/{step.attempts})"
        )
    due = (
        f"; AWS applies it itself in {ago(step.auto_apply_after)}"
        if step.auto_apply_after is not None
        else ""
    )
    return (
        f"{step.action.verb} tunnel {step.outside_ip} of {step.vpn_connection_id} "
        f"({step.router}): in the maintenance window, the other tunnel and the partner "
        f"router healthy{due}"
    )


def tunnel_wait_text(w: TunnelWait) -> str:
    what = f"tunnel {w.outside_ip} on {w.router}"
    if w.hold is Hold.LADDER_EXHAUSTED:
        return f"{what} still down after {w.attempts} IKE re-initiations; needs an operator"
    would = _WOULD[w.action]
    if w.hold is Hold.PAUSED:
        return f"{what}: {would} (paused)"
    if w.hold is Hold.NOT_LEADER:
        return f"{what}: {would} (not leader)"
    return f"{what}: {would} but waits: {w.detail}"


_WOULD = {
    TunnelAction.REINITIATE_IKE: "would re-initiate IKE",
    TunnelAction.APPLY_MAINTENANCE: "would apply AWS's pending maintenance",
}


def wait_text(w: Wait) -> str:
    r, what = w.router, w.failure
    texts = {
        Hold.BEING_HEALED: f"no action: {r} is being healed ({w.detail})",
        Hold.KIND_UNKNOWN: f"no action: {what}: failure kind unknown",
        Hold.VERIFYING: f"no action: verifying {w.action} on {r} ({w.seconds_left:.0f} s left)",
        Hold.ALERT_ONLY: f"no action: {what}: no healing for {w.detail} (alert only)",
        Hold.LADDER_EXHAUSTED: (
            f"no action: {what}: escalation ladder exhausted (last: {w.detail}); needs an operator"
        ),
        Hold.PAUSED: f"no action (paused): would {w.action} {r}: {what}",
        Hold.NOT_LEADER: f"no action (not leader): would {w.action} {r}: {what}",
        Hold.PAIR_GUARD: f"no action: {r} waits: {w.detail}",
        Hold.COOLDOWN: f"no action: {r} in cooldown ({w.seconds_left:.0f} s left)",
        Hold.UNMANAGED: f"no action: refusing to touch {r}: its instance lacks the managed tag",
        Hold.NO_BACKUP: f"no action: refusing to replace {r}: no valid config backup",
    }
    return texts[w.hold]


def _main(decision: Decision, verdicts: Sequence[RouterVerdict]) -> str:
    seen = observation(verdicts)
    hold, detail = decision.hold, decision.detail
    if decision.action is not None:
        why = f"operator request {decision.request_id}" if decision.request_id else ""
        return f"{decision.action.verb} {decision.router}: {why or decision.failure}"
    if hold is Hold.STATE_ERROR:
        return f"{seen}; observe only: {detail} (see `vpnwatch state check`)"
    if hold is Hold.STANDBY:  # what it would do, then who acts instead
        waits = [wait_text(w) for w in decision.waits]
        said = "; ".join(waits[:1] + [t.removeprefix("no action: ") for t in waits[1:]])
        return f"{said or seen}; standby: leader is {detail or 'unknown (none seen)'}"
    if hold is Hold.ACTING_FAILED:
        return f"{seen}; no action: acting failed ({detail})"
    if hold is Hold.HEAL_IN_PROGRESS:
        return f"no action: heal in progress ({detail})"
    if hold is Hold.BREAKER_OPEN:  # still say what is seen: the operator needs it to decide
        return f"{seen}; circuit breaker open ({detail}): no actions until {_RESET_HINT}"
    if hold is Hold.BREAKER_OPENING:
        return f"no action: opening circuit breaker: {detail}"
    if decision.tunnel is not None:
        return tunnel_step_text(decision.tunnel)
    if not decision.waits:  # nothing failed, or healing is off: what was seen
        return seen
    first, *rest = (wait_text(w) for w in decision.waits)
    return first + "".join("; " + t.removeprefix("no action: ") for t in rest)


def rehearsal_text(failed: Sequence[tuple[str, str]]) -> str:
    """ "replacement rehearsal failed for hub-r1 (ami: ...); +1 more" ("" when none)."""
    if not failed:
        return ""
    (router, why), more = failed[0], len(failed) - 1
    return f"replacement rehearsal failed for {router} ({why})" + (f" +{more} more" if more else "")


def _some(items: Sequence[str], most: int = 3) -> str:
    """ "a, b, c +2 more": a fleet of drifting routers must not make the line endless."""
    shown = ", ".join(items[:most])
    return shown + (f" +{len(items) - most} more" if len(items) > most else "")


def drift_text(drift: Sequence[tuple[str, str]]) -> str:
    """ "VPN config differs from AWS on hub-r1 (peer, bgp); VPN drift of spoke-r2 unknown
    (why)" ("" when none). Sections and reasons only: never a value."""
    differ = [f"{r} ({what})" for r, what in drift if not what.startswith("unknown")]
    unknown = [f"{r} {what}" for r, what in drift if what.startswith("unknown")]
    parts = []
    if differ:
        parts.append("VPN config differs from AWS on " + _some(differ))
    if unknown:
        parts.append("VPN drift of " + _some(unknown, most=1))
    return "; ".join(parts)


def reason_line(decision: Decision, verdicts: Sequence[RouterVerdict]) -> str:
    """The cycle's one line: the decision, failed rehearsals, VPN config drift, then what
    became of operator requests."""
    line = _main(decision, verdicts)
    for w in decision.tunnel_waits:
        line += "; " + tunnel_wait_text(w)
    if decision.rehearsal_failed:
        line += "; " + rehearsal_text(decision.rehearsal_failed)
    if decision.vpn_drift:
        line += "; " + drift_text(decision.vpn_drift)
    for a in decision.answers:
        line += f"; request {a.request_id} {a.status}: {a.answer}"
    return line
