"""The real-daemon tier: a module-wide two-router lab in network namespaces (root only)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.netns_lab import NetnsLab, missing_requirements


@pytest.fixture(scope="module")
def netns_lab() -> Iterator[NetnsLab]:
    missing = missing_requirements()
    if missing:
        needs = ", ".join(missing)
        pytest.skip(f"real-router lab needs: {needs} (run .ci/integration-setup.sh as root)")
    lab = NetnsLab()
    try:
        try:
            lab.up()
        except Exception:
            print(lab.log_tail())  # shown by pytest with the error
            raise
        yield lab
    finally:
        lab.down()
