"""Shared test set-up: dummy AWS credentials, no leftover asyncio tasks."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest

# The scenario harness's helpers assert (assert_replaced): show their values when they fail.
pytest.register_assert_rewrite("tests.scenarios.harness")

# Tests never talk to real AWS: dummy credentials and no config/credential files.
for _name, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    "AWS_EC2_METADATA_DISABLED": "true",
}.items():
    os.environ[_name] = _value
for _name in list(os.environ):
    if _name.startswith("VPNWATCH_"):
        del os.environ[_name]


@pytest.fixture(autouse=True)
async def _no_leftover_tasks() -> AsyncIterator[None]:
    """kopf's rule: a test that leaves tasks running fails."""
    before = {t for t in asyncio.all_tasks() if not t.done()}
    yield
    await asyncio.sleep(0)  # let cancelled tasks finish their cancellation
    current = asyncio.current_task()
    left = [t for t in asyncio.all_tasks() if t is not current and not t.done() and t not in before]
    if left:
        for task in left:
            task.cancel()
        names = ", ".join(sorted(repr(t.get_coro()) for t in left))
        pytest.fail(f"test left {len(left)} asyncio task(s) running: {names}")
