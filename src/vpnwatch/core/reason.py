"""The one-line reason of a cycle, Patroni style: the only place it is worded.

"no action: 6/6 routers healthy", "rebooting hub-r1: hub-r1 unreachable for 20 s",
"no action: verifying reboot on hub-r1 (240 s left); spoke1-r2 in cooldown (30 s left)".
Tests, operators and alert runbooks read these lines: change a wording only on purpose.
"""

from __future__ import annotations

from collections.abc import Sequence

from vpnwatch.core.decision import Decision, Wait
from vpnwatch.model import RouterVerdict
from vpnwatch.vocabulary import Health, Hold

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


def reason_line(decision: Decision, verdicts: Sequence[RouterVerdict]) -> str:
    """The cycle's one line: the decision, failed rehearsals, then what became of operator
    requests."""
    line = _main(decision, verdicts)
    if decision.rehearsal_failed:
        line += "; " + rehearsal_text(decision.rehearsal_failed)
    for a in decision.answers:
        line += f"; request {a.request_id} {a.status}: {a.answer}"
    return line
