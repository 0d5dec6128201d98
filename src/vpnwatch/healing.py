"""The acting side of a cycle: guard state, the policy decision, and starting heals.

The guard state (episodes, cooldowns, replacement history, breaker) is persisted so a restart
never forgets that the breaker is open or that a router was just replaced.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from vpnwatch.config import Config
from vpnwatch.heal.executor import HealExecutor, HealTarget
from vpnwatch.heal.replace import Backups
from vpnwatch.metrics import ControlState, CycleResult
from vpnwatch.model import RouterObservation
from vpnwatch.policy import (
    ACTIONS,
    Decision,
    Episode,
    FleetFacts,
    GuardState,
    PolicySettings,
    after_action,
    decide,
    settle,
)
from vpnwatch.statefiles import read_json, write_json_atomic


def policy_settings(config: Config) -> PolicySettings:
    h = config.heal
    return PolicySettings(
        ladders={k: tuple(v) for k, v in h.ladder.items()},
        verify_windows={a: h.verify_windows.for_action(a) for a in ACTIONS},
        cooldown=h.cooldown,
        max_replacements_per_router_per_day=h.breaker.max_replacements_per_router_per_day,
        max_replacements_per_fleet_per_hour=h.breaker.max_replacements_per_fleet_per_hour,
        max_flaps=h.breaker.max_flaps,
        max_concurrent_heals=h.max_concurrent_heals,
    )


def load_guards(path: Path, dry_run: bool | None = None) -> GuardState:
    """The saved guards; `dry_run` given and different from the saved mode → a fresh start
    (what dry-run "would have" done must not count against live healing, nor vice versa)."""
    data = read_json(path, {})
    if dry_run is not None and data.get("dry_run", dry_run) != dry_run:
        return GuardState(dry_run=dry_run)
    return GuardState(
        dry_run=bool(data.get("dry_run", True)) if dry_run is None else dry_run,
        breaker_open=bool(data.get("breaker_open", False)),
        breaker_reason=str(data.get("breaker_reason", "")),
        episodes={r: Episode(**e) for r, e in data.get("episodes", {}).items()},
        cooldown_until={r: float(t) for r, t in data.get("cooldown_until", {}).items()},
        replacements=tuple((str(r), float(t)) for r, t in data.get("replacements", [])),
    )


def save_guards(path: Path, state: GuardState) -> None:
    write_json_atomic(
        path,
        {
            "dry_run": state.dry_run,
            "breaker_open": state.breaker_open,
            "breaker_reason": state.breaker_reason,
            "episodes": {r: asdict(e) for r, e in state.episodes.items()},
            "cooldown_until": dict(state.cooldown_until),
            "replacements": [list(x) for x in state.replacements],
        },
    )


def heal_target(config: Config, obs: RouterObservation) -> HealTarget:
    entry = next(r for s in config.sites for r in s.routers if r.name == obs.name)
    neighbors = tuple(
        sorted({t.aws_inside_ip for c in obs.aws.connections for t in c.tunnels if t.aws_inside_ip})
    )
    return HealTarget(
        router=obs.name,
        region=obs.aws.region,
        instance_id=obs.aws.instance.instance_id if obs.aws.instance else None,
        elastic_ip=obs.aws.elastic_ip,
        ssh_host=entry.ssh_host,
        ssh_port=entry.ssh_port or config.ssh.port,
        neighbors=neighbors,
    )


class HealController:
    def __init__(
        self,
        config: Config,
        *,
        executor: HealExecutor | None,
        backups: Backups | None,
        control: ControlState,
        log: Any,
        clock: Callable[[], float],
    ) -> None:
        self._config = config
        self.executor = executor
        self._backups = backups
        self._control = control
        self._log = log
        self._clock = clock
        self._settings = policy_settings(config)
        self._path = config.state_dir / "guards.json"
        self.state = load_guards(self._path, config.heal.dry_run)
        self.acting_failed = False
        self._signal_paused = False
        self._site_of = {r.name: s.name for s in config.sites for r in s.routers}
        self._sync_control()

    # ---------------------------------------------------------------- switches

    def paused(self) -> bool:
        return self._config.heal.paused or self._signal_paused or self._config.pause_file.exists()

    def toggle_pause(self) -> None:
        self._signal_paused = not self._signal_paused
        self._log.warning("pause toggled by SIGUSR1", paused=self._signal_paused)

    @property
    def reset_request(self) -> Path:
        """`vpnwatch heal --reset-breaker` drops this file; a running daemon picks it up
        (it owns guards.json and would otherwise overwrite the reset)."""
        return self._config.state_dir / "RESET_BREAKER"

    def reset_breaker(self) -> None:
        self.state = replace(self.state, breaker_open=False, breaker_reason="", replacements=())
        save_guards(self._path, self.state)
        self._sync_control()

    def request_reset(self) -> None:
        self.reset_breaker()  # for a daemon that is not running
        self.reset_request.parent.mkdir(parents=True, exist_ok=True)
        self.reset_request.touch(mode=0o600)

    def _sync_control(self) -> None:
        c = self._control
        c.dry_run = self.state.dry_run
        c.paused = self.paused()
        c.leader = self.state.leader
        c.breaker_open = self.state.breaker_open

    # ---------------------------------------------------------------- per cycle

    def facts(self, observations: Sequence[RouterObservation]) -> FleetFacts:
        key, value = self._config.managed_tag.key, self._config.managed_tag.value
        managed = {
            o.name: bool(o.aws.instance and o.aws.instance.tags.get(key) == value)
            for o in observations
        }
        has_backup = {
            o.name: self._backups is not None
            and self._backups.latest_valid_backup(o.name) is not None
            for o in observations
        }
        return FleetFacts(site_of=self._site_of, managed=managed, has_backup=has_backup)

    def targets(self, observations: Sequence[RouterObservation]) -> Mapping[str, HealTarget]:
        return {o.name: heal_target(self._config, o) for o in observations}

    def resume(self, result: CycleResult) -> list[str]:
        """Every cycle: pick up heals left unfinished by a crash, a restart or a pause."""
        if self.executor is None or not self._config.heal.enabled:
            return []
        resumed = self.executor.resume(self.targets(result.snapshot.routers))
        if self.executor.abandoned:
            # The abandoned heal never reached its point of no return: its ladder step
            # did not happen, so the policy starts that router's escalation afresh.
            gone = set(self.executor.abandoned)
            self.executor.abandoned.clear()
            episodes = {r: e for r, e in self.state.episodes.items() if r not in gone}
            # ... and an abandoned replacement replaced nothing: it does not count either
            undone = {
                (r, e.last_action_at)
                for r, e in self.state.episodes.items()
                if r in gone and e.last_action == "replace"
            }
            replacements = tuple(x for x in self.state.replacements if x not in undone)
            self.state = replace(self.state, episodes=episodes, replacements=replacements)
            save_guards(self._path, self.state)
        return resumed

    def step(self, result: CycleResult, observed: str) -> Decision:
        now = self._clock()
        if self.reset_request.exists():
            self.reset_request.unlink(missing_ok=True)
            self._log.warning("circuit breaker reset by an operator", was=self.state.breaker_reason)
            self.reset_breaker()
        busy = self.executor.busy() if self.executor else {}
        state = replace(self.state, paused=self.paused(), heals_in_progress=busy)
        state = settle(state, result.verdicts, now, self._settings)
        if not self._config.heal.enabled or self.executor is None:
            self.state = state
            self._sync_control()
            return Decision(observed if observed else "no action")
        decision = decide(
            result.verdicts,
            state,
            self.facts(result.snapshot.routers),
            now,
            self._settings,
            observed=observed,
        )
        if decision.open_breaker:
            state = replace(state, breaker_open=True, breaker_reason=decision.open_breaker)
            self._log.error("circuit breaker opened", reason=decision.open_breaker)
        if decision.acts:
            assert decision.action is not None and decision.router is not None
            obs = next(o for o in result.snapshot.routers if o.name == decision.router)
            # Saved before acting: a crash right after must still count this action.
            state = after_action(state, decision.router, decision.action, now)
            save_guards(self._path, state)
            heal_id = self.executor.start(decision.action, heal_target(self._config, obs))
            self._log.warning(
                "heal started",
                heal_id=heal_id,
                router=decision.router,
                action=decision.action,
                dry_run=state.dry_run,
            )
        if state != self.state:
            save_guards(self._path, state)
        self.state = state
        self._sync_control()
        self._control.heal_steps = dict(self.executor.busy())
        return decision
