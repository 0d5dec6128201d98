"""Fixtures for the emulated world: one world per test module, clocks the test moves."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from vpnwatch.lab.world import LabWorld


class ManualWallClock:
    """A wall clock that only moves when the test says so (LastStatusChange is per second)."""

    def __init__(self) -> None:
        self.now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class ManualMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="module")
def wall_clock() -> ManualWallClock:
    return ManualWallClock()


@pytest.fixture(scope="module")
def monotonic() -> ManualMonotonic:
    return ManualMonotonic()


@pytest.fixture(scope="module")
def lab_world(
    tmp_path_factory: pytest.TempPathFactory,
    wall_clock: ManualWallClock,
    monotonic: ManualMonotonic,
) -> Iterator[LabWorld]:
    """The article's world in the emulated AWS, shared by one test module."""
    world = LabWorld(
        tmp_path_factory.mktemp("lab-world"),
        detection_delay=1.0,
        wall_clock=wall_clock,
        monotonic=monotonic,
    )
    world.start()
    try:
        yield world
    finally:
        world.stop()
