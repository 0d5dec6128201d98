"""What becomes of heals a previous process (or a pause) left unfinished.

Only a replacement or stop-start past its point of no return (the old instance terminated,
the instance stopped) is continued, and only in the mode it started in. Anything earlier is
abandoned: the router is untouched, so the policy decides afresh with today's guards. A live
heal past that point that cannot continue now (paused, or the daemon runs dry-run) is kept
for later.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from vpnwatch.core.records import HealRecord
from vpnwatch.vocabulary import Action, Mode

# The step after which a heal has changed the router and must be finished, not abandoned.
POINT_OF_NO_RETURN = {Action.REPLACE: "terminate", Action.STOP_START: "stop"}


@dataclass(frozen=True)
class Resumption:
    resume: tuple[str, ...] = ()  # heal ids to continue now
    abandon: tuple[tuple[str, str], ...] = ()  # (heal id, why)
    kept: tuple[tuple[str, str], ...] = ()  # (heal id, why not now): live, past no return


def past_no_return(record: HealRecord) -> bool:
    """The point of no return was done, or begun (written ahead as `extra["started"]`): the
    call may have reached AWS before the process died (or froze), so the old instance may
    be gone or stopping; only going forward is safe."""
    step = POINT_OF_NO_RETURN.get(record.action)
    return step is not None and (step in record.steps_done or record.extra.get("started") == step)


def _refusal(record: HealRecord, mode: Mode, paused: bool) -> str | None:
    if Mode.of(record.dry_run) is not mode:
        started = Mode.of(record.dry_run)
        return f"started {started}, the daemon is not {started} now"
    if record.action not in POINT_OF_NO_RETURN:
        return "a soft action is not resumed; the policy decides again"
    if not past_no_return(record):
        step = POINT_OF_NO_RETURN[record.action]
        return f"stopped before its point of no return ({step}); the policy decides again"
    if paused:
        return "actions are paused"
    return None


def plan_resumption(
    unfinished: Sequence[HealRecord], mode: Mode, paused: bool, configured: Sequence[str]
) -> Resumption:
    """`configured`: routers the config still names (a record of another is left alone)."""
    resume: list[str] = []
    abandon: list[tuple[str, str]] = []
    kept: list[tuple[str, str]] = []
    for record in unfinished:
        if record.router not in configured:
            continue
        why_not = _refusal(record, mode, paused)
        if why_not is None:
            resume.append(record.heal_id)
        elif record.dry_run or not past_no_return(record):
            abandon.append((record.heal_id, why_not))
        else:
            kept.append((record.heal_id, why_not))
    return Resumption(tuple(resume), tuple(abandon), tuple(kept))
