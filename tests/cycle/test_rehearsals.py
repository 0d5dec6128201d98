"""The daemon's rehearsals over many cycles: the real loop and `service.rehearsals` with a
fake rehearsal (the real one, against the emulated world, is in tests/scenarios).

Every router is rehearsed in the background on a slow schedule; a failure shows in the
reason line and in `vpnwatch_rehearsal_ok`, and never holds observation or a heal.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from tests.cycle.fakes import DEAD, Daemon, FakeClock, FakeFleet, fleet_config
from vpnwatch.heal.preflight import Check
from vpnwatch.heal.rehearse import Rehearsal
from vpnwatch.logs import get_logger
from vpnwatch.metrics import Metrics
from vpnwatch.model import RouterAwsView
from vpnwatch.service.rehearsals import Rehearsals
from vpnwatch.vocabulary import Action

R = "spoke1-r1"
ALL_HEALTHY = "no action: 4/4 routers healthy"
GONE = "ami-0abc1234 does not exist (deregistered?): set heal.ami"
ROUTERS = ["hub-r1", "hub-r2", "spoke1-r1", "spoke1-r2"]


class FakeRehearsal:
    """Answers as the preflight would: the AMI check fails for the routers in `broken`."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.broken: set[str] = set()
        self.raising: set[str] = set()
        self.hold: asyncio.Event | None = None
        self.calls: list[str] = []

    async def __call__(self, router: str, view: RouterAwsView) -> Rehearsal:
        self.calls.append(router)
        if self.hold is not None:
            await self.hold.wait()
        if router in self.raising:
            raise RuntimeError("boom")
        ok = router not in self.broken
        checks = (Check("ami", ok, "ami-0abc1234 VyOS 1.4.3" if ok else GONE),)
        return Rehearsal(router, ok, checks, self.clock())


def rehearsing(
    daemon: Daemon, interval: float = 60.0, deadline: float = 30.0
) -> tuple[FakeRehearsal, Rehearsals]:
    fake = FakeRehearsal(daemon.clock)
    rehearsals = Rehearsals(
        fake, interval=lambda: interval, deadline=lambda: deadline, control=daemon.control,
        clock=daemon.clock, log=get_logger("test"),
    )  # fmt: skip
    daemon.loop.parts.rehearsals = rehearsals
    return fake, rehearsals


def exposition(daemon: Daemon) -> str:
    registry = CollectorRegistry()
    Metrics(registry, lambda: daemon.loop.latest, daemon.control)
    return generate_latest(registry).decode()


async def test_a_failed_rehearsal_is_said_and_exported_and_holds_nothing(tmp_path: Path) -> None:
    fleet, clock = FakeFleet.of(), FakeClock()
    daemon = Daemon(fleet_config(tmp_path), fleet, clock)
    fake, _ = rehearsing(daemon, interval=60.0)
    assert await daemon.cycles(1) == [ALL_HEALTHY]
    assert fake.calls == ROUTERS  # after the first cycle, in the background
    assert 'vpnwatch_rehearsal_ok{router="spoke1-r1"} 1.0' in exposition(daemon)
    fake.broken.add(R)  # the AMI is deregistered; nothing is due for an hour
    assert await daemon.cycles(10) == [ALL_HEALTHY] * 10
    assert fake.calls == ROUTERS
    clock.advance(10)  # 60 s since the first rehearsal: all due again
    failed = f"{ALL_HEALTHY}; replacement rehearsal failed for {R} (ami: {GONE})"
    assert await daemon.cycles(2) == [ALL_HEALTHY, failed]
    assert fake.calls == ROUTERS * 2
    text = exposition(daemon)
    assert 'vpnwatch_rehearsal_ok{router="spoke1-r1"} 0.0' in text
    assert 'vpnwatch_rehearsal_ok{router="spoke1-r2"} 1.0' in text
    at = 'vpnwatch_rehearsal_last_timestamp_seconds{router="spoke1-r1"} '
    assert float(text.split(at)[1].split()[0]) == clock() - 10  # two cycles ago
    # a rehearsal failure holds nothing: the ladder goes on (the replacement's own preflight
    # checks again before its point of no return)
    fleet.fault(R, DEAD, Action.REBOOT)
    reason = await daemon.until(lambda r: r.startswith("rebooting"))
    assert reason == f"rebooting {R}: {R} unreachable for 5 s; {failed.split('; ')[1]}"
    await daemon.until(lambda r: r.startswith(ALL_HEALTHY))


async def test_routers_being_healed_without_a_backup_or_an_instance_are_not_rehearsed(
    tmp_path: Path,
) -> None:
    fleet, clock = FakeFleet.of(), FakeClock()
    fleet.backups = False  # nothing to restore yet: VpnwatchBackupMissing's business
    daemon = Daemon(fleet_config(tmp_path), fleet, clock)
    fake, rehearsals = rehearsing(daemon)
    await daemon.cycles(3)
    assert fake.calls == [] and daemon.control.rehearsals == {}
    fleet.backups = True
    views = {o.name: o.aws for o in daemon.loop.latest.snapshot.routers}  # type: ignore[union-attr]
    views["hub-r2"] = RouterAwsView("hub-r2", "us-east-1", None, None, (), error="throttled")
    views["spoke1-r2"] = RouterAwsView("spoke1-r2", "us-east-1", None, None, ())  # crashed
    assert rehearsals.due(clock(), views, skip={"hub-r1"}) == [R]


async def test_a_failing_or_hanging_rehearsal_is_a_failed_result_and_the_schedule_goes_on(
    tmp_path: Path,
) -> None:
    fleet, clock = FakeFleet.of(), FakeClock()
    daemon = Daemon(fleet_config(tmp_path), fleet, clock)
    fake, rehearsals = rehearsing(daemon, interval=60.0)
    fake.raising.add("hub-r1")
    await daemon.cycles(1)
    assert rehearsals.failures() == {"hub-r1": "rehearsal: RuntimeError: boom"}
    assert set(rehearsals.latest) == set(ROUTERS)
    # one run at a time: a hung rehearsal holds the next ones back, never the cycles
    fake.hold = asyncio.Event()
    rehearsals.rehearse_all_soon()
    boom = "replacement rehearsal failed for hub-r1 (rehearsal: RuntimeError: boom)"
    assert await daemon.cycles(5) == [f"{ALL_HEALTHY}; {boom}"] * 5
    assert fake.calls == [*ROUTERS, "hub-r1"]
    fake.hold.set()
    await daemon.cycles(2)
    assert fake.calls == [*ROUTERS, *ROUTERS] and rehearsals.failures() == {
        "hub-r1": "rehearsal: RuntimeError: boom"
    }
    # its deadline (heal.timeouts.api) ends a hung one: a failed result, the next goes on
    hung = Daemon(fleet_config(tmp_path / "hung"), FakeFleet.of(), clock)
    slow, schedule = rehearsing(hung, deadline=0.0)
    slow.hold = asyncio.Event()
    await hung.cycles(1)
    await schedule.wait_idle()
    assert slow.calls == ROUTERS
    assert schedule.failures() == dict.fromkeys(ROUTERS, "rehearsal: timed out")
    await schedule.close()


async def test_interval_zero_never_rehearses_and_a_reload_rehearses_all_at_once(
    tmp_path: Path,
) -> None:
    fleet, clock = FakeFleet.of(), FakeClock()
    off = Daemon(fleet_config(tmp_path / "off"), fleet, clock)
    never, _ = rehearsing(off, interval=0.0)
    await off.cycles(3)
    assert never.calls == []
    daemon = Daemon(fleet_config(tmp_path / "on"), fleet, clock)
    fake, rehearsals = rehearsing(daemon, interval=3600.0)
    await daemon.cycles(2)
    assert fake.calls == ROUTERS
    rehearsals.rehearse_all_soon()  # what SIGHUP does after a reload
    await daemon.cycles(2)
    assert fake.calls == ROUTERS * 2
