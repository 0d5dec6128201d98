"""What becomes of heals a previous process (or a pause) left unfinished.

Only a replacement past its point of no return (the old instance terminated) is continued,
and only in the mode it started in. Anything earlier is abandoned: the old instance is still
there, so the policy decides afresh with today's guards. A live replacement past terminate
that cannot continue now (paused, or the daemon runs dry-run) is kept for later.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from vpnwatch.core.records import HealRecord
from vpnwatch.vocabulary import Action, Mode

POINT_OF_NO_RETURN = "terminate"


@dataclass(frozen=True)
class Resumption:
    resume: tuple[str, ...] = ()  # heal ids to continue now
    abandon: tuple[tuple[str, str], ...] = ()  # (heal id, why)
    kept: tuple[tuple[str, str], ...] = ()  # (heal id, why not now): live, past terminate


def past_no_return(record: HealRecord) -> bool:
    """Terminating was done, or begun: the call may have reached AWS before the process
    died (or froze), so the old instance may be gone; only going forward is safe."""
    return (
        POINT_OF_NO_RETURN in record.steps_done or record.extra.get("started") == POINT_OF_NO_RETURN
    )


def _refusal(record: HealRecord, mode: Mode, paused: bool) -> str | None:
    if Mode.of(record.dry_run) is not mode:
        started = Mode.of(record.dry_run)
        return f"started {started}, the daemon is not {started} now"
    if record.action is not Action.REPLACE:
        return "a soft action is not resumed; the policy decides again"
    if not past_no_return(record):
        return "stopped before terminating the old instance; the policy decides again"
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
