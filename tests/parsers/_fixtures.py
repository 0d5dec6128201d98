"""Access to the copied real-router fixtures (tests never read /work/shared)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "router-outputs"
SAMPLES = Path(__file__).resolve().parent / "samples"  # hand-written, formats not in FIXTURES


@cache
def ground_truth() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / "ground_truth.json").read_text())
    return data


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text()


def fixture_names(kind: str | None = None) -> list[str]:
    """Fixture paths relative to FIXTURES (kind = top directory), sorted."""
    return sorted(
        str(p.relative_to(FIXTURES))
        for p in FIXTURES.rglob("*.txt")
        if kind is None or p.parent.name == kind
    )


def sample_text(name: str) -> str:
    return (SAMPLES / name).read_text()
