from __future__ import annotations

import stat
from dataclasses import replace
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from vpnwatch.heal.audit import AuditLog, read_audit
from vpnwatch.heal.gate import MutationGate, NotLeader
from vpnwatch.heal.progress import HealRecord, ProgressStore, make_heal_id
from vpnwatch.healing import load_guards, save_guards
from vpnwatch.logs import get_logger
from vpnwatch.policy import Episode, GuardState
from vpnwatch.statefiles import FleetState


def gate(
    tmp_path: Path, *, dry_run: bool, leader: bool = True
) -> tuple[MutationGate, Path, list[tuple[str, str]]]:
    path = tmp_path / "audit.jsonl"
    seen: list[tuple[str, str]] = []
    g = MutationGate(
        dry_run=lambda: dry_run,
        is_leader=lambda: leader,
        audit=AuditLog(path, clock=lambda: 123.0),
        log=get_logger("test"),
        on_would_have=lambda r, a: seen.append((r, a)),
    )
    return g, path, seen


async def test_dry_run_logs_would_have_and_never_calls(tmp_path: Path) -> None:
    g, path, seen = gate(tmp_path, dry_run=True)
    calls: list[str] = []

    async def call() -> str:
        calls.append("x")
        return "done"

    with capture_logs() as logs:
        result = await g.mutate(
            heal_id="h1",
            router="r1",
            action="reboot",
            step="reboot",
            description="reboot i-1 (r1)",
            call=call,
        )
    assert result is None and calls == []
    assert logs[0]["event"] == "would have reboot i-1 (r1)" and logs[0]["dry_run"] is True
    (entry,) = read_audit(path)
    assert entry == {
        "time": 123.0,
        "heal_id": "h1",
        "router": "r1",
        "action": "reboot",
        "step": "reboot",
        "result": "would have reboot i-1 (r1)",
        "dry_run": True,
    }
    assert seen == [("r1", "reboot")]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_live_mutation_is_audited_and_failures_too(tmp_path: Path) -> None:
    g, path, _ = gate(tmp_path, dry_run=False)

    async def ok() -> str:
        return "i-2"

    async def boom() -> None:
        raise RuntimeError("InvalidIPAddress.InUse")

    assert (
        await g.mutate(
            heal_id="h", router="r", action="replace", step="launch", description="launch", call=ok
        )
        == "i-2"
    )
    with pytest.raises(RuntimeError):
        await g.mutate(
            heal_id="h",
            router="r",
            action="replace",
            step="launch",
            description="launch",
            call=boom,
        )
    results = [e["result"] for e in read_audit(path)]
    assert results == ["done: launch", "failed: InvalidIPAddress.InUse"]


async def test_not_leader_refuses_every_mutation(tmp_path: Path) -> None:
    g, path, _ = gate(tmp_path, dry_run=False, leader=False)
    called = []

    async def call() -> None:
        called.append(1)

    with pytest.raises(NotLeader):
        await g.mutate(
            heal_id="h", router="r", action="reboot", step="reboot", description="reboot", call=call
        )
    assert not called and read_audit(path)[0]["result"] == "refused: not leader"


def test_progress_round_trips_and_lists_unfinished(tmp_path: Path) -> None:
    store = ProgressStore(tmp_path)
    record = HealRecord(
        make_heal_id("r1", "replace", 1000.7), "r1", "replace", "same-ip", 1000.7, False, "i-1"
    )
    store.save(record.done("capture", launch_spec={"image_id": "ami-1"}))
    store.save(HealRecord("r2-reboot-1", "r2", "reboot", "-", 1.0, False, "i-2", status="done"))
    (loaded,) = store.unfinished()
    assert loaded.heal_id == "r1-replace-1000" and loaded.steps_done == ("capture",)
    assert loaded.launch_spec == {"image_id": "ami-1"}
    assert loaded.client_token == record.client_token and len(loaded.client_token) <= 64
    assert (
        HealRecord("other", "r1", "replace", "same-ip", 0, False, None).client_token
        != record.client_token
    )


def test_guards_and_fleet_state_persist(tmp_path: Path) -> None:
    state = GuardState(
        breaker_open=True,
        breaker_reason="r1 flapped 5 times",
        episodes={"r1": Episode("reboot", 10.0, 5.0)},
        cooldown_until={"r2": 99.0},
        replacements=(("r1", 1.0),),
    )
    save_guards(tmp_path / "guards.json", state)
    loaded = load_guards(tmp_path / "guards.json")
    assert loaded.breaker_open and loaded.episodes == state.episodes
    assert loaded.replacements == state.replacements and loaded.cooldown_until == {"r2": 99.0}
    fleet = FleetState(tmp_path)
    fleet.replaced("r1", "i-new", "ssh-ed25519 AAAA")
    again = FleetState(tmp_path)
    assert again.instances == {"r1": "i-new"} and again.host_keys == {"r1": "ssh-ed25519 AAAA"}
    assert stat.S_IMODE((tmp_path / "fleet.json").stat().st_mode) == 0o600


def test_a_breaker_reset_reaches_a_running_daemon(tmp_path: Path) -> None:
    """The running daemon owns guards.json; the reset request file is how the CLI reaches it."""
    from vpnwatch.config import parse_config
    from vpnwatch.healing import HealController
    from vpnwatch.metrics import ControlState

    config = parse_config(
        f"ssh: {{enabled: false}}\nstate_dir: {tmp_path}\n"
        "sites: [{name: hub, role: hub, routers: "
        "[{name: hub-r1, instance_id: i-0123456789abcdef0}]}]\n",
        environ={},
    )
    save_guards(tmp_path / "guards.json", GuardState(breaker_open=True, breaker_reason="flaps"))
    running = HealController(
        config,
        executor=None,
        backups=None,
        control=ControlState(),
        log=get_logger("t"),
        clock=lambda: 1.0,
    )
    assert running.state.breaker_open
    cli = HealController(
        config,
        executor=None,
        backups=None,
        control=ControlState(),
        log=get_logger("t"),
        clock=lambda: 1.0,
    )
    cli.request_reset()
    from tests.core.builders import observation, snapshot
    from vpnwatch.metrics import CycleResult

    result = CycleResult(snapshot(observation("hub-r1")), (), (), "x", 1.0)
    running.step(result, "no action: all healthy")
    assert not running.state.breaker_open
    assert not load_guards(tmp_path / "guards.json").breaker_open
    assert not (tmp_path / "RESET_BREAKER").exists()


def _executor(tmp_path: Path, *, dry_run: bool, paused: bool = False):  # type: ignore[no-untyped-def]
    from vpnwatch.heal.executor import HealExecutor
    from vpnwatch.heal.replace import Timeouts

    g = MutationGate(
        dry_run=lambda: dry_run,
        is_leader=lambda: True,
        audit=AuditLog(None, clock=lambda: 0.0),
        log=get_logger("t"),
        paused=lambda: paused,
    )
    return HealExecutor(
        gate=g,
        store=ProgressStore(tmp_path),
        fleet=FleetState(tmp_path),
        ec2_for=lambda region: None,
        vyos=None,
        backups=None,
        verify=None,  # type: ignore[arg-type]
        strategy="same-ip",
        timeouts=Timeouts(),
        managed_tag=("k", "v"),
        log=get_logger("t"),
        on_result=lambda *a: None,
    )


def test_resume_continues_only_live_replacements_past_terminate(tmp_path: Path) -> None:
    store = ProgressStore(tmp_path)
    base = HealRecord("x", "r1", "replace", "same-ip", 0.0, False, "i-1")
    store.save(replace(base, heal_id="soft", router="r2", action="reboot", strategy="-"))
    store.save(replace(base, heal_id="early", router="r3", steps_done=("capture", "tag-old")))
    store.save(
        replace(
            base,
            heal_id="dry",
            router="r4",
            dry_run=True,
            steps_done=("capture", "tag-old", "terminate"),
        )
    )
    store.save(
        replace(base, heal_id="late", router="r5", steps_done=("capture", "tag-old", "terminate"))
    )
    executor = _executor(tmp_path, dry_run=False, paused=True)
    from vpnwatch.heal.executor import HealTarget

    targets = {
        r: HealTarget(r, "us-east-1", "i-1", None, "127.0.0.1", 22, ())
        for r in ("r2", "r3", "r4", "r5")
    }
    assert executor.resume(targets) == []
    status = {r.heal_id: r.status for r in store.load_all()}
    assert status == {
        "soft": "abandoned",
        "early": "abandoned",
        "dry": "abandoned",
        "late": "running",
    }  # kept for when actions are unpaused


async def test_a_pause_holds_the_next_mutation(tmp_path: Path) -> None:
    from vpnwatch.heal.gate import HealPaused

    g = MutationGate(
        dry_run=lambda: False,
        is_leader=lambda: True,
        audit=AuditLog(tmp_path / "a.jsonl", clock=lambda: 0.0),
        log=get_logger("t"),
        paused=lambda: True,
    )
    called = []

    async def call() -> None:
        called.append(1)

    with pytest.raises(HealPaused):
        await g.mutate(
            heal_id="h",
            router="r",
            action="replace",
            step="launch",
            description="launch",
            call=call,
        )
    assert not called and read_audit(tmp_path / "a.jsonl")[0]["result"] == "held: paused"


def test_dry_run_guard_state_does_not_carry_into_live_mode(tmp_path: Path) -> None:
    path = tmp_path / "guards.json"
    save_guards(
        path,
        GuardState(
            dry_run=True,
            episodes={"r1": Episode("replace", 1.0, 0.0)},
            replacements=(("r1", 1.0),),
            breaker_open=True,
        ),
    )
    assert load_guards(path, dry_run=True).breaker_open
    live = load_guards(path, dry_run=False)
    assert not live.breaker_open and live.episodes == {} and live.replacements == ()
