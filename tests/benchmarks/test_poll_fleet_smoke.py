"""Smoke test of benchmarks/poll_fleet.py: a tiny fleet, the JSON contract, cleanup.

No timing assertions: the numbers only have to be sane and consistent with each other.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(180)

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "poll_fleet.py"
KEYS = {"routers", "cycle_seconds", "naive_cycle_seconds", "ratio", "rss_mb"}


def run_benchmark(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # Every temporary file of both processes goes under tmp_path, so cleanup can be checked.
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True, text=True, env=env, timeout=150, check=False,
    )  # fmt: skip


def test_tiny_fleet_ends_with_the_json_result_and_cleans_up(tmp_path: Path) -> None:
    done = run_benchmark(tmp_path, "--routers", "5", "--naive-sample", "2", "--cycles", "2")

    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    result = json.loads(lines[-1])
    assert set(result) == KEYS
    assert result["routers"] == 5
    assert result["cycle_seconds"] > 0
    assert result["naive_cycle_seconds"] > 0
    expected_ratio = result["naive_cycle_seconds"] / result["cycle_seconds"]
    assert result["ratio"] == pytest.approx(expected_ratio, rel=0.01)
    assert 1 < result["rss_mb"] < 4096
    assert "extrapolated to 5" in done.stdout  # 2 of 5 routers polled naively
    assert all(not line.startswith("{") for line in lines[:-1])  # exactly one JSON line
    assert list(tmp_path.iterdir()) == []  # keys, known_hosts and router files removed


def test_a_fleet_of_zero_routers_is_refused(tmp_path: Path) -> None:
    done = run_benchmark(tmp_path, "--routers", "0")

    assert done.returncode == 2
    assert "--routers: must be at least 1, got 0" in done.stderr
    assert done.stdout == ""
