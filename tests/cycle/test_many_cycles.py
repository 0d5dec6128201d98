"""Many cycles in one process, asserted by their reason lines (the Patroni way).

The real loop, pure step, executor and file state store run over a fake fleet and a fake
clock: a router failing and climbing the whole ladder, the breaker opening and an operator
closing it, a pause, a restart that resumes a replacement and keeps failure streaks, a
dry-run start that leaves the live breaker alone, unreadable state, a standby.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.cycle.fakes import (
    DEAD,
    TUNNELS_DOWN,
    Daemon,
    FakeClock,
    FakeFleet,
    audit_actions,
    fleet_config,
)
from vpnwatch.core.records import OperatorRequest
from vpnwatch.statestore.files import FileStateStore
from vpnwatch.vocabulary import Action, Mode, RequestKind, RequestStatus

R = "spoke1-r1"
ALL_HEALTHY = "no action: 4/4 routers healthy"


def ask(daemon: Daemon, kind: RequestKind, now: float, **fields: object) -> str:
    """What `vpnwatch heal|pause|resume` does while a daemon leads: store a request."""
    request_id = f"{kind}-{int(now)}"
    request = OperatorRequest(request_id, kind, now, "ops@host (pid 1)", **fields)  # type: ignore[arg-type]
    FileStateStore(daemon.config().state_dir).submit(request)  # another process, no lease
    return request_id


async def test_a_failing_router_climbs_the_whole_ladder_and_is_replaced(tmp_path: Path) -> None:
    fleet, clock = FakeFleet.of(), FakeClock()
    daemon = Daemon(fleet_config(tmp_path), fleet, clock)
    assert await daemon.cycles(1) == [ALL_HEALTHY]
    fleet.fault(R, TUNNELS_DOWN)  # nothing but a replacement cures it
    reasons = await daemon.cycles(2)
    assert reasons[0].startswith(f"no action: {R} degraded: reachable but no tunnel up")
    assert "(failing 1/2 cycles, 0/5 s)" in reasons[0]
    assert reasons[1] == f"resetting BGP on {R}: {R} bgp-ipsec-down for 5 s"
    assert await daemon.cycles(2) == [
        f"no action: verifying reset-bgp on {R} (5 s left)",
        f"restarting VPN on {R}: {R} bgp-ipsec-down for 15 s",
    ]
    await daemon.cycles(1)
    assert await daemon.cycles(1) == [f"rebooting {R}: {R} bgp-ipsec-down for 25 s"]
    await daemon.cycles(1)
    assert await daemon.cycles(1) == [f"replacing {R}: {R} bgp-ipsec-down for 35 s"]
    await daemon.until(lambda r: r == ALL_HEALTHY)
    assert list(dict.fromkeys(a for r, a, _ in audit_actions(daemon) if r == R)) == [
        "reset-bgp",
        "restart-vpn",
        "reboot",
        "replace",
    ]
    assert daemon.control.actions[(R, "replace", "success")] == 1
    assert daemon.store.read(Mode.LIVE).fleet.instances[R] == fleet.routers[R].instance_id
    # healthy again: the episode ends and the cooldown starts
    guards = daemon.store.read(Mode.LIVE).memory.guards
    assert R not in guards.episodes and R in guards.cooldown_until


async def test_a_failed_replacement_ends_the_ladder_and_needs_an_operator(tmp_path: Path) -> None:
    fleet, clock = FakeFleet.of(), FakeClock()
    fleet.fail_replacements = True
    ladder = {"unreachable": ["replace"], "bgp-ipsec-down": ["reset-bgp"]}
    daemon = Daemon(fleet_config(tmp_path, ladder=ladder), fleet, clock)
    fleet.fault(R, DEAD)
    await daemon.until(lambda r: r.startswith(f"replacing {R}: {R} unreachable"))
    reason = await daemon.until(lambda r: "exhausted" in r)
    assert reason.endswith("escalation ladder exhausted (last: replace); needs an operator")
    assert daemon.control.heal_failures == {R: 1}
    assert [h.status for (h,) in [(r,) for r in daemon.store.heal_records()[0]]] == ["failed"]


async def test_the_breaker_opens_after_two_replacements_and_an_operator_closes_it(
    tmp_path: Path,
) -> None:
    fleet, clock = FakeFleet.of(), FakeClock()
    ladder = {"unreachable": ["replace"], "bgp-ipsec-down": ["reset-bgp"]}
    daemon = Daemon(fleet_config(tmp_path, ladder=ladder), fleet, clock)
    fleet.fault(R, DEAD)
    await daemon.until(lambda r: r.startswith(f"replacing {R}"))
    await daemon.until(lambda r: r == ALL_HEALTHY)
    await daemon.cycles(7)  # past the 30 s cooldown
    fleet.fault(R, DEAD)
    await daemon.until(lambda r: r.startswith(f"replacing {R}"))
    opened = f"no action: opening circuit breaker: {R} was replaced 2 times in 24 h"
    assert await daemon.until(lambda r: "circuit breaker" in r) == opened
    fleet.fault(R, DEAD)
    held = await daemon.cycles(3)
    assert all(
        f"circuit breaker open ({R} was replaced 2 times in 24 h): no actions until" in r
        for r in held
    ), held
    assert daemon.control.breaker_open and f"no action: {R} failed: SSH unreachable" in held[-1]
    request = ask(daemon, RequestKind.RESET_BREAKER, clock())
    reason = (await daemon.cycle()).reason
    assert reason == (
        f"no action: {R} in cooldown (10 s left); request {request} done: live circuit breaker"
        f" closed (was: {R} was replaced 2 times in 24 h)"
    )
    await daemon.until(lambda r: r.startswith(f"replacing {R}"))  # counted afresh: it acts
    answered = daemon.store.request(request)
    assert answered is not None and answered.status is RequestStatus.DONE


async def test_a_pause_stops_actions_and_says_what_it_would_do(tmp_path: Path) -> None:
    fleet, clock = FakeFleet.of(), FakeClock()
    daemon = Daemon(fleet_config(tmp_path), fleet, clock)
    paused = ask(daemon, RequestKind.PAUSE, clock())
    assert await daemon.cycles(1) == [f"{ALL_HEALTHY}; request {paused} done: actions paused"]
    fleet.fault(R, DEAD, Action.REBOOT)
    reason = await daemon.until(lambda r: "would" in r)
    assert reason == f"no action (paused): would reboot {R}: {R} unreachable for 5 s"
    assert daemon.control.paused and fleet.calls == []
    # the pause survives a restart: an operator's pause is safety state
    await daemon.crash()
    daemon = Daemon(fleet_config(tmp_path), fleet, clock)
    assert (await daemon.cycle()).reason.startswith(f"no action (paused): would reboot {R}")
    resumed = ask(daemon, RequestKind.RESUME, clock())
    reason = (await daemon.cycle()).reason
    assert reason == (
        f"rebooting {R}: {R} unreachable for 15 s; request {resumed} done: actions resumed"
    )
    assert await daemon.until(lambda r: r == ALL_HEALTHY)


async def test_a_restart_resumes_a_replacement_past_its_point_of_no_return(
    tmp_path: Path,
) -> None:
    fleet, clock = FakeFleet.of(), FakeClock()
    ladder = {"unreachable": ["replace"], "bgp-ipsec-down": ["reset-bgp"]}
    config = fleet_config(tmp_path, ladder=ladder)
    first = Daemon(config, fleet, clock)
    fleet.hold_at = "launch"  # the process dies while launching the twin
    fleet.fault(R, DEAD)
    await first.until(lambda r: r.startswith(f"replacing {R}"))
    assert await first.cycles(1) == [f"no action: heal in progress ({R} at launch)"]
    await first.crash()
    fleet.hold_at = None
    second = Daemon(config, fleet, clock, holder="restarted")
    reasons = await second.cycles(1)  # resumed from its last step, not started afresh
    assert reasons == [f"no action: heal in progress ({R} at wait-terminated)"]
    await second.until(lambda r: r == ALL_HEALTHY)
    (record,) = second.store.heal_records()[0]
    assert record.status == "done" and record.steps_done.count("terminate") == 1
    assert [c for c in fleet.calls if c.endswith("launch")] == [f"{R}: launch"]  # one twin


async def test_a_heal_that_ends_while_a_cycle_observes_is_not_resumed_from_its_stale_read(
    tmp_path: Path,
) -> None:
    fleet, clock = FakeFleet.of(), FakeClock()
    config = fleet_config(tmp_path, ladder={"unreachable": ["replace"]})
    daemon = Daemon(config, fleet, clock)
    fleet.hold_at = "verify"
    fleet.fault(R, DEAD)
    await daemon.until(lambda r: r == f"no action: heal in progress ({R} at verify)")

    async def finish_the_heal() -> None:  # after the cycle read "running", before it decides
        fleet.released.set()
        for _ in range(20):
            await asyncio.sleep(0)
        (record,) = daemon.store.heal_records()[0]
        assert record.status == "done"

    fleet.during_observe = finish_the_heal
    await daemon.cycle()
    fleet.during_observe = None
    await daemon.until(lambda r: r == ALL_HEALTHY)
    (record,) = daemon.store.heal_records()[0]
    assert record.status == "done"
    # carried out once: no second run of its last step from the stale "running" copy
    assert [c for c in fleet.calls if c.endswith(": verify")] == [f"{R}: verify"]


async def test_a_heal_abandoned_before_terminate_is_decided_afresh(tmp_path: Path) -> None:
    fleet, clock = FakeFleet.of(), FakeClock()
    config = fleet_config(tmp_path, ladder={"unreachable": ["reboot", "replace"]})
    first = Daemon(config, fleet, clock)
    fleet.hold_at = "tag-old"  # the process dies early in the replacement
    fleet.fault(R, DEAD)
    await first.until(lambda r: r.startswith(f"rebooting {R}"))
    await first.until(lambda r: r.startswith(f"replacing {R}"))
    await first.crash()
    fleet.hold_at = None
    second = Daemon(config, fleet, clock, holder="restarted")
    # the replacement never got past capture: it did not happen, so the ladder starts again
    assert (await second.cycle()).reason.startswith(f"rebooting {R}: {R} unreachable")
    statuses = sorted(r.status for r in second.store.heal_records()[0])
    assert statuses == ["abandoned", "done", "done"]


async def test_a_restart_keeps_the_failure_streak(tmp_path: Path) -> None:
    fleet, clock = FakeFleet.of(), FakeClock()
    config = fleet_config(tmp_path)
    first = Daemon(config, fleet, clock)
    fleet.fault(R, DEAD, Action.REBOOT)
    (reason,) = await first.cycles(1)
    assert "(failing 1/2 cycles" in reason
    await first.crash()
    second = Daemon(config, fleet, clock, holder="restarted")
    assert (await second.cycle()).reason == f"rebooting {R}: {R} unreachable for 5 s"
    # ... but not across a long outage: those cycles never happened
    await second.crash()
    fleet.fault("hub-r1", DEAD, Action.REBOOT)
    clock.advance(3600)
    third = Daemon(config, fleet, clock, holder="much later")
    assert "hub-r1 degraded" in (await third.cycle()).reason
    assert "(failing 1/2 cycles" in third.reasons[-1]


async def test_a_dry_run_start_leaves_the_live_breaker_and_history_alone(tmp_path: Path) -> None:
    fleet, clock = FakeFleet.of(), FakeClock()
    ladder = {"unreachable": ["replace"], "bgp-ipsec-down": ["reset-bgp"]}
    live = Daemon(fleet_config(tmp_path, ladder=ladder), fleet, clock)
    fleet.fault(R, DEAD)
    await live.until(lambda r: r == ALL_HEALTHY and bool(live.control.actions))
    await live.cycles(7)
    fleet.fault(R, DEAD)
    await live.until(lambda r: "opening circuit breaker" in r)
    await live.crash()
    before = FileStateStore(tmp_path).read(Mode.LIVE).memory.guards
    assert before.breaker_open and len(before.replacements) == 2
    fleet.fault(R, DEAD)
    seen = len(list(audit_actions(live)))
    dry = Daemon(fleet_config(tmp_path, ladder=ladder, dry_run=True), fleet, clock, "dry")
    await dry.until(lambda r: r.startswith(f"replacing {R}"))  # its own, clean guards
    await dry.cycles(3)
    assert fleet.routers[R].state == DEAD  # dry-run changed nothing
    said = [res for _, _, res in list(audit_actions(dry))[seen:]]
    assert said and all(res.startswith("would have ") for res in said), said
    await dry.crash()
    assert FileStateStore(tmp_path).read(Mode.LIVE).memory.guards == before
    again = Daemon(fleet_config(tmp_path, ladder=ladder), fleet, clock, "live again")
    assert "circuit breaker open" in (await again.cycle()).reason


async def test_unreadable_state_means_observe_only_until_it_is_moved_aside(tmp_path: Path) -> None:
    fleet, clock = FakeFleet.of(), FakeClock()
    daemon = Daemon(fleet_config(tmp_path), fleet, clock)
    await daemon.cycles(1)
    (tmp_path / "guards.live.json").write_text("{")
    fleet.fault(R, DEAD, Action.REBOOT)
    reasons = await daemon.cycles(4)
    assert all(
        r.endswith(
            "; observe only: guards.live.json: not JSON at line 1 (see `vpnwatch state check`)"
        )
        for r in reasons
    ), reasons
    assert fleet.calls == [] and daemon.control.state_errors == {
        "guards.live.json": "not JSON at line 1"
    }
    assert (tmp_path / "guards.live.json").read_text() == "{"  # evidence kept, never rewritten
    daemon.store.quarantine("guards.live.json", clock())
    assert (await daemon.cycle()).reason == f"rebooting {R}: {R} unreachable for 20 s"
    assert daemon.control.state_errors == {}


async def test_a_corrupt_heal_record_is_named_not_a_crash(tmp_path: Path) -> None:
    fleet, clock = FakeFleet.of(), FakeClock()
    (tmp_path / "heals").mkdir(parents=True)
    (tmp_path / "heals" / "x.json").write_text("null")
    (tmp_path / "fleet.json").mkdir()
    daemon = Daemon(fleet_config(tmp_path), fleet, clock)
    (reason,) = await daemon.cycles(1)
    assert reason == (
        f"{ALL_HEALTHY}; observe only: fleet.json: unreadable: a directory, not a file; +1 more"
        " (see `vpnwatch state check`)"
    )
    assert set(daemon.control.state_errors) == {"fleet.json", "heals/x.json"}


async def test_a_second_process_on_the_same_state_is_a_standby(tmp_path: Path) -> None:
    fleet, clock = FakeFleet.of(), FakeClock()
    config = fleet_config(tmp_path)
    leader = Daemon(config, fleet, clock, holder="host-a pid 1")
    standby = Daemon(config, fleet, clock, holder="host-b pid 2")
    await leader.cycle()
    assert (
        await standby.cycle()
    ).reason == f"{ALL_HEALTHY}; standby: leader is host-a pid 1, fence 1"
    fleet.fault(R, DEAD, Action.REBOOT)
    await standby.cycles(2)
    assert standby.reasons[-1] == (
        f"no action (not leader): would reboot {R}: {R} unreachable for 5 s"
        "; standby: leader is host-a pid 1, fence 1"
    )
    assert not standby.control.leader and fleet.calls == []
    await leader.crash()
    assert (await standby.cycle()).reason.startswith(f"rebooting {R}")  # it took over
    assert standby.lease.current() is not None and standby.lease.current().token == 2


async def test_an_operator_heal_request_runs_through_the_same_guards(tmp_path: Path) -> None:
    fleet, clock = FakeFleet.of(), FakeClock()
    daemon = Daemon(fleet_config(tmp_path), fleet, clock)
    await daemon.cycles(1)
    fleet.fault("hub-r2", DEAD)
    await daemon.cycles(1)
    refused = ask(daemon, RequestKind.HEAL, clock(), router="hub-r1", action=Action.REBOOT)
    reason = (await daemon.cycle()).reason
    assert reason.endswith(
        f"; request {refused} refused: pair guard: hub-r2 (same site) is not healthy and hub-r1 "
        "still works: healing it now could cut the site off"
    )
    wrong_mode = ask(
        daemon, RequestKind.HEAL, clock(), router=R, action=Action.REBOOT, dry_run=True
    )
    assert (await daemon.cycle()).reason.endswith(
        f"; request {wrong_mode} refused: asked for a dry-run heal; the daemon runs live"
    )
    fleet.fault("hub-r2", "healthy")
    await daemon.until(lambda r: r == ALL_HEALTHY)
    granted = ask(daemon, RequestKind.HEAL, clock(), router=R, action=Action.RESTART_VPN)
    reason = (await daemon.cycle()).reason
    heal_id = daemon.store.request(granted).heal_id  # type: ignore[union-attr]
    assert reason == (
        f"restarting VPN on {R}: operator request {granted}; "
        f"request {granted} done: heal {heal_id} started"
    )
    assert f"{R}: restart vpn" in fleet.calls
    assert daemon.store.heal_records()[0][-1].request_id == granted
