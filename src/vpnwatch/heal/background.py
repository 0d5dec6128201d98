"""The per-router background tasks of the heal executor and the tunnel actor, awaited and
cancelled the same way (one place, so a shutdown cannot leave one of them running)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import MutableMapping
from typing import Any


async def wait_idle(tasks: MutableMapping[str, asyncio.Task[Any]]) -> None:
    """Until every running task has ended (their errors are theirs to report)."""
    running = [t for t in tasks.values() if not t.done()]
    if running:
        await asyncio.gather(*running, return_exceptions=True)


async def cancel_all(tasks: MutableMapping[str, asyncio.Task[Any]]) -> None:
    """Cancel every task, wait for each to finish, forget them."""
    for task in tasks.values():
        task.cancel()
    for task in tasks.values():
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    tasks.clear()
