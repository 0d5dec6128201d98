from __future__ import annotations

import stat
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from tests.audit import audit_lines
from vpnwatch.core.memory import Episode, GuardMemory, Memory, RouterHistory
from vpnwatch.core.records import HealRecord, make_heal_id
from vpnwatch.core.resume import plan_resumption
from vpnwatch.heal.audit import AuditTrail
from vpnwatch.heal.gate import HealPaused, MutationGate, NotLeader
from vpnwatch.logs import get_logger
from vpnwatch.statestore.api import Fence
from vpnwatch.statestore.files import FileStateStore
from vpnwatch.statestore.lease import FileLease
from vpnwatch.vocabulary import Action, HealStatus, Mode


def leader_store(tmp_path: Path) -> tuple[FileStateStore, FileLease]:
    lease = FileLease(tmp_path, holder="test")
    assert lease.acquire() is not None
    return FileStateStore(tmp_path, lease=lease), lease


def fenced_store(tmp_path: Path) -> tuple[FileStateStore, Fence]:
    store, lease = leader_store(tmp_path)
    fence = lease.current()
    assert fence is not None
    return store, fence


def gate(
    tmp_path: Path, *, dry_run: bool, leader: bool = True, paused: bool = False
) -> tuple[MutationGate, Path, list[tuple[str, str]]]:
    store, lease = leader_store(tmp_path)
    seen: list[tuple[str, str]] = []
    g = MutationGate(
        dry_run=dry_run,
        is_leader=lambda: leader,
        audit=AuditTrail(store, lease.current, clock=lambda: 123.0),
        paused=lambda: paused,
        log=get_logger("test"),
        on_would_have=lambda r, a: seen.append((r, a)),
    )
    return g, store.audit_file, seen


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
    (entry,) = audit_lines(path)
    assert entry == {
        "time": 123.0,
        "heal_id": "h1",
        "router": "r1",
        "action": "reboot",
        "step": "reboot",
        "result": "would have reboot i-1 (r1)",
        "dry_run": True,
        "fence": 1,  # who wrote it: the leadership term
    }
    assert seen == [("r1", "reboot")]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_live_mutation_is_audited_and_failures_too(tmp_path: Path) -> None:
    g, path, _ = gate(tmp_path, dry_run=False)

    async def ok() -> str:
        return "i-2"

    async def boom() -> None:
        raise RuntimeError("InvalidIPAddress.InUse")

    common = {"heal_id": "h", "router": "r", "action": "replace", "step": "launch"}
    assert await g.mutate(**common, description="launch", call=ok) == "i-2"
    with pytest.raises(RuntimeError):
        await g.mutate(**common, description="launch", call=boom)
    results = [e["result"] for e in audit_lines(path)]
    assert results == ["done: launch", "failed: InvalidIPAddress.InUse"]


async def test_not_leader_refuses_every_mutation_even_in_dry_run(tmp_path: Path) -> None:
    for dry_run in (False, True):
        g, path, _ = gate(tmp_path / str(dry_run), dry_run=dry_run, leader=False)
        called: list[int] = []

        async def call(seen: list[int] = called) -> None:
            seen.append(1)

        with pytest.raises(NotLeader):
            await g.mutate(
                heal_id="h", router="r", action="reboot", step="reboot", description="reboot",
                call=call,
            )  # fmt: skip
        assert not called and audit_lines(path) == []


async def test_a_stale_leader_cannot_audit_or_mutate(tmp_path: Path) -> None:
    """The lease passed to a new holder: the old holder's fenced writes are refused."""
    store, lease = leader_store(tmp_path)
    old_fence = lease.current()
    assert old_fence is not None
    lease.release()
    newer = FileLease(tmp_path, holder="new")
    assert (fence := newer.acquire()) is not None and fence.token == old_fence.token + 1
    stale = MutationGate(
        dry_run=False,
        is_leader=lambda: True,  # it believes it still leads
        audit=AuditTrail(store, lambda: old_fence, clock=lambda: 1.0),
        log=get_logger("t"),
    )
    called = []

    async def call() -> None:
        called.append(1)

    with pytest.raises(NotLeader, match="lost the lease"):
        await stale.mutate(
            heal_id="h", router="r", action="reboot", step="reboot", description="reboot",
            call=call,
        )  # fmt: skip
    # the refused audit write came first: nothing was mutated, nothing written
    assert called == [] and audit_lines(store.audit_file) == []


async def test_a_pause_holds_the_next_mutation(tmp_path: Path) -> None:
    g, path, _ = gate(tmp_path, dry_run=False, paused=True)
    called = []

    async def call() -> None:
        called.append(1)

    with pytest.raises(HealPaused):
        await g.mutate(
            heal_id="h", router="r", action="replace", step="launch", description="launch",
            call=call,
        )  # fmt: skip
    assert not called and audit_lines(path)[0]["result"] == "held: paused"


def test_progress_round_trips_and_lists_unfinished(tmp_path: Path) -> None:
    store, fence = fenced_store(tmp_path)
    record = HealRecord(
        make_heal_id("r1", Action.REPLACE, 1000.7), "r1", Action.REPLACE, "same-ip", 1000.7,
        False, "i-1",
    )  # fmt: skip
    store.save_heal(record.done("capture", launch_spec={"image_id": "ami-1"}), fence=fence)
    done = HealRecord("r2-reboot-1", "r2", Action.REBOOT, "-", 1.0, False, "i-2", status="done")
    store.save_heal(done, fence=fence)
    (loaded,) = FileStateStore(tmp_path).read(Mode.LIVE).unfinished
    assert loaded.heal_id == "r1-replace-1000" and loaded.steps_done == ("capture",)
    assert loaded.launch_spec == {"image_id": "ami-1"}
    token = loaded.launch_token(fence.token)
    assert token == record.launch_token(fence.token) and len(token) <= 64
    other = HealRecord("other", "r1", Action.REPLACE, "same-ip", 0, False, None)
    assert other.launch_token(fence.token) != token
    # a new leadership term launches under a token of its own
    assert record.launch_token(fence.token + 1) != token


def test_memory_and_fleet_persist_and_the_fleet_merges(tmp_path: Path) -> None:
    store, fence = fenced_store(tmp_path)
    guards = GuardMemory(
        breaker_open=True,
        breaker_reason="r1 flapped 5 times",
        episodes={"r1": Episode(Action.REBOOT, 10.0, 5.0)},
        cooldown_until={"r2": 99.0},
        replacements=(("r1", 1.0),),
    )
    streak = {"r1": RouterHistory(consecutive_failures=2, failed_since=3.0, seen_at=4.0)}
    store.save_memory(Mode.LIVE, Memory(streak, guards, paused=True), fence=fence)
    store.record_instance("r1", "i-new", "ssh-ed25519 AAAA", fence=fence)
    store.record_instance("r2", "i-other", None, fence=fence)
    again = FileStateStore(tmp_path).read(Mode.LIVE)
    assert again.memory == Memory(streak, guards, paused=True)  # restart keeps failure streaks
    assert again.fleet.instances == {"r1": "i-new", "r2": "i-other"}
    assert again.fleet.host_keys == {"r1": "ssh-ed25519 AAAA"}
    for name in ("fleet.json", "guards.live.json", "hysteresis.json", "control.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600


def test_guards_are_kept_per_mode_and_a_dry_run_cannot_touch_the_live_ones(tmp_path: Path) -> None:
    store, fence = fenced_store(tmp_path)
    live = GuardMemory(
        breaker_open=True,
        breaker_reason="spoke1-r1 was replaced 2 times in 24 h",
        episodes={"r1": Episode(Action.REPLACE, 1.0, 0.0)},
        replacements=(("r1", 1.0), ("r1", 0.5)),
    )
    store.save_memory(Mode.LIVE, Memory(guards=live), fence=fence)
    assert store.read(Mode.DRY_RUN).memory.guards == GuardMemory()  # dry-run starts clean
    store.save_memory(Mode.DRY_RUN, Memory(guards=GuardMemory(breaker_open=False)), fence=fence)
    assert FileStateStore(tmp_path).read(Mode.LIVE).memory.guards == live  # and lost nothing


def test_a_legacy_guards_file_is_read_for_its_own_mode(tmp_path: Path) -> None:
    (tmp_path / "guards.json").write_text(
        '{"dry_run": false, "breaker_open": true, "breaker_reason": "flaps", "episodes": {},'
        ' "cooldown_until": {}, "replacements": [["r1", 3.0]]}'
    )
    store = FileStateStore(tmp_path)
    live = store.read(Mode.LIVE)
    assert live.problems == () and live.memory.guards.breaker_open
    assert live.memory.guards.replacements == (("r1", 3.0),)
    assert not store.read(Mode.DRY_RUN).memory.guards.breaker_open


def test_unfinished_heals_resume_only_live_replacements_past_terminate() -> None:
    base = HealRecord("x", "r1", Action.REPLACE, "same-ip", 0.0, False, "i-1")
    records = [
        HealRecord("soft", "r2", Action.REBOOT, "-", 0.0, False, "i-1"),
        HealRecord("early", "r3", Action.REPLACE, "same-ip", 0.0, False, "i-1", ("capture",)),
        HealRecord(
            "dry", "r4", Action.REPLACE, "same-ip", 0.0, True, "i-1",
            ("capture", "tag-old", "terminate"),
        ),
        HealRecord(
            "late", "r5", Action.REPLACE, "same-ip", 0.0, False, "i-1",
            ("capture", "tag-old", "terminate"),
        ),
        base,
    ]  # fmt: skip
    routers = ["r2", "r3", "r4", "r5"]  # r1 is no longer configured: left alone
    paused = plan_resumption(records, Mode.LIVE, True, routers)
    assert paused.resume == ()
    assert {h for h, _ in paused.abandon} == {"soft", "early", "dry"}
    assert paused.kept == (("late", "actions are paused"),)  # for when actions are unpaused
    running = plan_resumption(records, Mode.LIVE, False, routers)
    assert running.resume == ("late",)
    dry = plan_resumption(records, Mode.DRY_RUN, False, routers)
    assert dict(dry.kept)["late"] == "started live, the daemon is not live now"
    assert HealStatus.RUNNING in {r.status for r in records}


def test_a_replacement_that_began_terminating_is_resumed_not_abandoned() -> None:
    """The terminate call may have reached AWS before the process died or froze: the record
    says so before the call, and the next leader goes forward instead of deciding afresh
    about a router whose old instance may already be gone."""
    steps = ("capture", "tag-old")
    begun = HealRecord("begun", "r1", Action.REPLACE, "same-ip", 0.0, False, "i-1", steps,
                       extra={"started": "terminate"})  # fmt: skip
    not_yet = HealRecord("not-yet", "r2", Action.REPLACE, "same-ip", 0.0, False, "i-2", steps)
    plan = plan_resumption([begun, not_yet], Mode.LIVE, False, ["r1", "r2"])
    assert plan.resume == ("begun",)
    assert [h for h, _ in plan.abandon] == ["not-yet"]
