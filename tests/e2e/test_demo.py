"""The README's demo command works: world + daemon, a crash, a replacement, recovery."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e


def test_demo_crashes_a_router_and_shows_it_recovering() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "vpnwatch",
            "demo",
            "--crash-after",
            "6",
            "--duration",
            "150",
            "--exit-after-recovery",
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    out = result.stdout
    assert result.returncode == 0, out[-3000:] + result.stderr[-2000:]
    assert "vpnwatch lab: ready" in out and "routers=6" in out
    assert "no action: 6/6 routers healthy" in out
    assert "demo: crashing spoke1-r1 now" in out
    assert "replacing spoke1-r1: spoke1-r1 unreachable for" in out
    for step in ("terminate", "launch", "associate-eip", "wait-ssh", "verify-host-key", "restore"):
        assert f">> step {step} (spoke1-r1)" in out, step
    assert "demo: spoke1-r1 recovered" in out
