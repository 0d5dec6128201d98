"""End-to-end tests run the daemon as a process against a world on real clocks."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

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


@pytest.fixture
def daemon_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a daemon process: its own state directory, any free port, JSON."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VPNWATCH_")}
    env.update(
        VPNWATCH_STATE_DIR=str(tmp_path / "state"),
        VPNWATCH_METRICS__LISTEN="127.0.0.1:0",
        VPNWATCH_LOGGING__FORMAT="json",
    )
    return env
