"""One cycle as data: `step(snapshot, memory, requests, facts, now, config)`.

Snapshot → verdicts (hysteresis) → transitions of the guard memory (abandoned heals undone,
operator requests taken, episodes settled) → Decision (the policy, or an operator's heal) →
the breaker and the episode updated → the reason line. Pure: the loop observes before it,
and persists and carries out what it returns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from vpnwatch.config import Config
from vpnwatch.core.decision import Decision, Facts, StateProblem
from vpnwatch.core.guards import (
    after_action,
    forget_abandoned,
    open_breaker,
    reset_breaker,
    settle,
)
from vpnwatch.core.health import evaluate, tunnel_verdicts
from vpnwatch.core.maintenance import (
    Explained,
    decide_tunnels,
    explained_notes,
    explained_tunnels,
    settle_tunnels,
)
from vpnwatch.core.memory import GuardMemory, Memory
from vpnwatch.core.policy import Situation, decide, refusal
from vpnwatch.core.reason import reason_line
from vpnwatch.core.records import HealRecord, OperatorRequest, RequestAnswer, make_heal_id
from vpnwatch.core.resume import Resumption, plan_resumption
from vpnwatch.model import RouterVerdict, Snapshot, TunnelVerdict
from vpnwatch.vocabulary import Action, Hold, Mode, RequestKind, RequestStatus


@dataclass(frozen=True)
class CycleResult:
    """Everything one cycle produced; published atomically (metrics render it at scrape)."""

    snapshot: Snapshot
    verdicts: tuple[RouterVerdict, ...]
    tunnels: tuple[TunnelVerdict, ...]
    decision: Decision
    reason: str
    finished_at: float
    errors: tuple[tuple[str, str], ...] = ()  # (source, what) observation errors
    state_problems: tuple[StateProblem, ...] = ()


def poll_errors(snapshot: Snapshot) -> tuple[tuple[str, str], ...]:
    """Observation errors by metric source (aws, parse, ssh, hostkey)."""
    errors = list(snapshot.errors)
    source = {"parse": "parse", "host-key": "hostkey"}
    for obs in snapshot.routers:
        if obs.ssh is not None and obs.ssh.error_kind is not None:
            kind = obs.ssh.error_kind.value
            errors.append((source.get(kind, "ssh"), kind))
    return tuple(errors)


@dataclass
class _Cycle:
    """The working state of one step (private: step() returns frozen data)."""

    verdicts: tuple[RouterVerdict, ...]
    facts: Facts
    config: Config
    now: float
    guards: GuardMemory
    paused: bool  # by request
    explained: Mapping[tuple[str, str], Explained] = field(default_factory=dict)

    @property
    def mode(self) -> Mode:
        return Mode.of(self.config.heal.dry_run)

    def situation(self, snapshot: Snapshot, busy: dict[str, str]) -> Situation:
        tag = self.config.managed_tag
        return Situation(
            guards=self.guards,
            site_of={r.name: s.name for s in self.config.sites for r in s.routers},
            managed={
                o.name: bool(o.aws.instance and o.aws.instance.tags.get(tag.key) == tag.value)
                for o in snapshot.routers
            },
            has_backup=self.facts.has_backup,
            busy=busy,
            paused=self.paused or self.facts.switch_paused,
            leader=self.facts.leader,
        )

    def heal_refusal(
        self, request: OperatorRequest, situation: Situation, verdicts: Sequence[RouterVerdict]
    ) -> str | None:
        assert request.router is not None and request.action is not None
        if not self.facts.can_heal:
            return "healing is disabled (heal.enabled false or ssh disabled)"
        if request.dry_run is not None and Mode.of(request.dry_run) is not self.mode:
            return f"asked for a {Mode.of(request.dry_run)} heal; the daemon runs {self.mode}"
        return refusal(request.router, request.action, verdicts, situation)


def take_requests(
    guards: GuardMemory,
    paused: bool,
    requests: Sequence[OperatorRequest],
    mode: Mode,
    switch_paused: bool,
) -> tuple[GuardMemory, bool, list[RequestAnswer], list[OperatorRequest]]:
    """Carry out the reset, pause and resume requests, oldest first: (guards, paused by
    request, their answers, the heal requests left for the policy's guards)."""
    answers: list[RequestAnswer] = []
    heals: list[OperatorRequest] = []
    done = RequestStatus.DONE
    for request in sorted(requests, key=lambda r: (r.submitted_at, r.request_id)):
        rid = request.request_id
        if request.kind is RequestKind.RESET_BREAKER:
            was = guards.breaker_reason or "closed"
            guards = reset_breaker(guards)
            answers.append(RequestAnswer(rid, done, f"{mode} circuit breaker closed (was: {was})"))
        elif request.kind is RequestKind.PAUSE:
            paused = True
            answers.append(RequestAnswer(rid, done, "actions paused"))
        elif request.kind is RequestKind.RESUME:
            paused = False
            still = " (heal.paused or the pause file still hold them)" if switch_paused else ""
            answers.append(RequestAnswer(rid, done, "actions resumed" + still))
        else:
            heals.append(request)
    return guards, paused, answers, heals


def _busy(facts: Facts, resumption: Resumption, unfinished: Sequence[HealRecord]) -> dict[str, str]:
    """Every heal not finished: running here, resuming now, or kept for later."""
    busy = dict(facts.busy)
    going = {h for h in resumption.resume} | {h for h, _ in resumption.kept}
    for record in unfinished:
        if record.heal_id in going:
            busy.setdefault(
                record.router, record.steps_done[-1] if record.steps_done else "starting"
            )
    return busy


def _decide(
    snapshot: Snapshot,
    requests: Sequence[OperatorRequest],
    cycle: _Cycle,
    auto: bool,
) -> Decision:
    facts, config, now = cycle.facts, cycle.config, cycle.now
    if facts.state_problems:  # nothing may act, and nothing is changed, on unreadable state
        first, *rest = facts.state_problems
        more = f"; +{len(rest)} more" if rest else ""
        return Decision(hold=Hold.STATE_ERROR, detail=f"{first.file}: {first.why}{more}")
    if not facts.leader:  # a standby says what it would do and takes nothing
        would = decide(
            cycle.verdicts, cycle.situation(snapshot, dict(facts.busy)), now, config.heal
        )
        return Decision(
            hold=Hold.STANDBY, detail=facts.leader_name, waits=would.waits, alert=would.alert
        )
    configured = [r.name for s in config.sites for r in s.routers]
    resumption = Resumption()
    if facts.can_heal and auto:
        paused = cycle.paused or facts.switch_paused
        resumption = plan_resumption(facts.unfinished, cycle.mode, paused, configured)
    abandoned = {h for h, _ in resumption.abandon}
    cycle.guards = forget_abandoned(
        cycle.guards, [r.router for r in facts.unfinished if r.heal_id in abandoned]
    )
    cycle.guards, cycle.paused, answers, heals = take_requests(
        cycle.guards, cycle.paused, requests, cycle.mode, facts.switch_paused
    )
    cycle.guards = settle(cycle.guards, cycle.verdicts, now, config.heal)
    recent = config.maintenance.recent
    cycle.guards = settle_tunnels(cycle.guards, snapshot, cycle.explained, now, recent)
    situation = cycle.situation(snapshot, _busy(facts, resumption, facts.unfinished))
    decision: Decision | None = None
    for request in heals:  # one heal starts per cycle; the others wait for the next
        if decision is not None:
            break
        why = cycle.heal_refusal(request, situation, cycle.verdicts)
        if why is not None:
            answers.append(RequestAnswer(request.request_id, RequestStatus.REFUSED, why))
            continue
        assert request.router is not None and request.action is not None
        decision = Decision(
            action=request.action, router=request.router, request_id=request.request_id
        )
        heal_id = make_heal_id(request.router, request.action, now)
        answers.append(
            RequestAnswer(
                request.request_id, RequestStatus.DONE, f"heal {heal_id} started", heal_id
            )
        )
    if decision is None:
        if not facts.can_heal or not auto:
            decision = Decision(hold=Hold.HEALING_OFF)
        else:
            decision = decide(cycle.verdicts, situation, now, config.heal)
    if decision.opened_breaker:
        cycle.guards = open_breaker(cycle.guards, decision.opened_breaker)
    if decision.action is not None and decision.router is not None:
        # remembered before acting: a crash right after must still count this action
        cycle.guards = after_action(cycle.guards, decision.router, decision.action, now)
    elif decision.hold is None and facts.can_heal and auto:  # no heal: maybe a tunnel action
        choice = decide_tunnels(
            snapshot,
            cycle.verdicts,
            replace(situation, guards=cycle.guards),
            facts.maintenance,
            cycle.explained,
            now,
            config,
        )
        cycle.guards = choice.guards  # the attempt remembered before acting, as above
        decision = replace(decision, tunnel=choice.step, tunnel_waits=choice.waits)
    return replace(
        decision, resume=resumption.resume, abandon=resumption.abandon, answers=tuple(answers)
    )


def step(
    snapshot: Snapshot,
    memory: Memory,
    requests: Sequence[OperatorRequest],
    facts: Facts,
    now: float,
    config: Config,
    *,
    auto: bool = True,
) -> tuple[CycleResult, Memory, Decision]:
    """One cycle. `auto=False`: act only on operator requests (the CLI acting by itself)."""
    min_prefixes = {r.name: s.expect.min_prefixes for s in config.sites for r in s.routers}
    explained: dict[tuple[str, str], Explained] = {}
    if config.maintenance.enabled:
        recent = config.maintenance.recent
        explained = explained_tunnels(snapshot, facts.maintenance, now, recent)
    verdicts, histories = evaluate(
        snapshot,
        memory.hysteresis,
        now,
        config.health,
        min_prefixes,
        explained_notes(explained.items()),
    )
    cycle = _Cycle(verdicts, facts, config, now, memory.guards, memory.paused, explained)
    decision = _decide(snapshot, requests, cycle, auto)
    # a failed rehearsal is said, never a reason to hold: the replacement's own preflight
    # checks again before its point of no return
    # VPN config drift is observation only: said, never acted on
    decision = replace(
        decision,
        rehearsal_failed=tuple(sorted(facts.rehearsal_failed.items())),
        vpn_drift=tuple(sorted(facts.vpn_drift.items())),
    )
    result = CycleResult(
        snapshot=snapshot,
        verdicts=verdicts,
        tunnels=tunnel_verdicts(snapshot),
        decision=decision,
        reason=reason_line(decision, verdicts),
        finished_at=now,
        errors=poll_errors(snapshot),
        state_problems=facts.state_problems,
    )
    return result, Memory(histories, cycle.guards, cycle.paused), decision


def heal_id_of(decision: Decision, now: float) -> str | None:
    """The id the heal this decision starts gets (the same one its request's answer names)."""
    if decision.action is None or decision.router is None:
        return None
    return make_heal_id(decision.router, Action(decision.action), now)
