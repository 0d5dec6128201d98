"""End-to-end tests run the daemon as a process against a world on real clocks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from vpnwatch.lab.world import LabWorld


@pytest.fixture(scope="module")
def lab_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabWorld]:
    world = LabWorld(tmp_path_factory.mktemp("e2e-world"), detection_delay=1.0)
    world.start()
    try:
        yield world
    finally:
        world.stop()
