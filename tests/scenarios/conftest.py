"""The `scenario` fixture: `scenario(**options)` starts a world and a daemon (harness.py) and
stops every one it made when the test ends."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.scenarios.harness import Scenario


@pytest.fixture
def scenario(tmp_path: Path) -> Iterator[Callable[..., Scenario]]:
    made: list[Scenario] = []

    def make(**options: Any) -> Scenario:
        s = Scenario(tmp_path / f"s{len(made)}", **options)
        made.append(s)
        s.start()
        return s

    try:
        yield make
    finally:
        for s in made:
            s.stop()
