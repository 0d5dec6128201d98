"""The README's demo command works: world + daemon, a crash, a replacement, recovery."""

from __future__ import annotations

import re
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
    steps = ("terminate", "launch", "wait-running", "associate-eip", "wait-ssh", "verify-host-key")
    for step in (*steps, "restore"):  # wait-running: the default world has a pending window
        assert f">> step {step} (spoke1-r1)" in out, step
    recovered = re.search(r"demo: spoke1-r1 recovered (\d+\.\d) s after the crash", out)
    assert recovered is not None and float(recovered.group(1)) > 0, out[-3000:]
