import asyncio

import pytest

from tests.conftest import _no_leftover_tasks


async def test_guard_detects_a_leftover_task() -> None:
    guard = _no_leftover_tasks.__wrapped__()  # type: ignore[attr-defined]
    await guard.__anext__()
    task = asyncio.create_task(asyncio.sleep(60))
    with pytest.raises(pytest.fail.Exception, match="left 1 asyncio task"):
        await guard.__anext__()
    assert task.cancelled() or task.cancelling()
    await asyncio.gather(task, return_exceptions=True)


def test_sync_tests_still_run() -> None:
    assert sum([1, 2]) == 3
