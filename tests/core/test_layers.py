"""The layers contract fails on an upward import (and on a chain that leads upward)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_an_upward_import_breaks_the_layers_contract(tmp_path: Path) -> None:
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    shutil.copytree(
        ROOT / "src" / "vpnwatch",
        tmp_path / "src" / "vpnwatch",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    pkg = tmp_path / "src" / "vpnwatch"
    with (pkg / "core" / "health.py").open("a") as fh:  # the pure core reaching for the loop
        fh.write("\nfrom vpnwatch.service import loop as _upward  # noqa\n")
    with (pkg / "config.py").open("a") as fh:  # config -> lab (unlisted) -> the CLI layer
        fh.write("\nimport vpnwatch.lab.tags as _via_lab  # noqa\n")
    with (pkg / "lab" / "tags.py").open("a") as fh:
        fh.write("\nimport vpnwatch.commands.common as _up  # noqa\n")
    lint = Path(sys.executable).with_name("lint-imports")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "src")}
    out = subprocess.run(
        [str(lint), "--no-cache"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    text = out.stdout + out.stderr
    assert out.returncode == 1, text
    assert "Layers: cli > commands > service" in text and "BROKEN" in text
    assert "vpnwatch.core.health -> vpnwatch.service.loop" in text
    # an indirect import: config (low) reaches commands (high) through a module in no layer
    assert "vpnwatch.config -> vpnwatch.lab.tags" in text
    assert "vpnwatch.lab.tags -> vpnwatch.commands.common" in text
