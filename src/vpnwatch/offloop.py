"""Parsing off the event loop: a small dedicated thread pool and a deadline per parse.

Router output and configs are parsed here, never on the loop, so a hostile answer cannot
stall the cycle, `/healthz` or other routers' backups. Every parser is linear in its input
and refuses input over its size limit, so a parse always ends; the deadline bounds how long
a caller waits for it. At the deadline the caller gets a ParseError and goes on; the thread
finishes its (bounded) work in the background and its result is dropped (a thread cannot be
killed). The pool is its own, so parsing never queues behind AWS calls or metric rendering.

    summary = await parse_off_loop(parse_bgp_summary, text, deadline=OP_PARSE_DEADLINE,
                                   what="show ip bgp summary")
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

from vpnwatch.errors import ParseError

T = TypeVar("T")

PARSE_WORKERS = 2
# A 4 MiB input (the largest any parser takes) parses in a few seconds on one core.
OP_PARSE_DEADLINE = 10.0  # op-mode output: bgp summary, IKE/IPsec SAs
CONFIG_PARSE_DEADLINE = 30.0  # `show configuration` and stored backups (parse + sanitize)

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


class ParseDeadlineExceeded(ParseError):
    """A parse did not finish within its deadline; what it would have returned is ignored."""


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=PARSE_WORKERS, thread_name_prefix="vpnwatch-parse"
            )
        return _pool


async def parse_off_loop(parse: Callable[..., T], *args: Any, deadline: float, what: str) -> T:
    """`parse(*args)` in the parse pool; its result, or what it raised.

    Raises ParseDeadlineExceeded (a ParseError) when it takes longer than `deadline`
    seconds, counted from the call (waiting for a free worker included).
    """
    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(_executor(), partial(parse, *args))
    try:
        return await asyncio.wait_for(future, deadline)
    except TimeoutError:
        raise ParseDeadlineExceeded(
            f"{what}: parsing did not finish within {deadline:g}s (result abandoned)"
        ) from None
