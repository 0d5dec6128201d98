"""Smoke test of benchmarks/parse_hostile.py: every case runs, the JSON contract holds.

No timing assertions (the budgets are the benchmark's own, checked when it runs in full).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(240)

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "parse_hostile.py"


def test_quick_run_answers_every_case_and_ends_with_the_json_result() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        capture_output=True, text=True, timeout=200, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    result = json.loads(lines[-1])
    assert result["quick"] is True and result["budgets_missed"] == []
    cases = result["cases"]
    assert len(cases) == 14 and len(lines) == 16  # header, one row per case, JSON
    deep = cases["cli config 10,000 levels"]
    assert deep["exit_code"] == 3 and "line 65: configuration nested deeper" in deep["answer"]
    for name in ("cli config /dev/zero", "cli config 100 MB stdin"):
        assert cases[name]["exit_code"] == 3 and "over the limit" in cases[name]["answer"]
    for case in cases.values():
        assert case["exit_code"] in (0, 3) and case["seconds"] > 0 and case["rss_mb"] > 1
