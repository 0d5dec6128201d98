"""parse_off_loop: parsers run in the parse pool, the loop runs meanwhile, a deadline holds."""

from __future__ import annotations

import asyncio
import threading

import pytest

from vpnwatch.errors import ParseError
from vpnwatch.offloop import ParseDeadlineExceeded, parse_off_loop
from vpnwatch.parsers import parse_config


async def test_the_parser_runs_in_the_parse_pool_and_returns_its_result() -> None:
    seen: list[str] = []

    def parse(text: str, suffix: str) -> str:
        seen.append(threading.current_thread().name)
        return text + suffix

    assert await parse_off_loop(parse, "a", "b", deadline=5, what="x") == "ab"
    assert seen[0].startswith("vpnwatch-parse") and seen[0] != threading.current_thread().name


async def test_the_loop_keeps_running_while_a_parse_is_in_progress() -> None:
    """The parse waits for the loop to do something: on the loop this would deadlock (and
    end at the deadline); off the loop both finish."""
    loop_ran = threading.Event()

    def parse(text: str) -> str:
        if not loop_ran.wait(timeout=30):
            raise AssertionError("the loop did not run while parsing")
        return text

    async def loop_work() -> None:
        await asyncio.sleep(0)
        loop_ran.set()

    result, _ = await asyncio.gather(
        parse_off_loop(parse, "ok", deadline=60, what="x"), loop_work()
    )
    assert result == "ok"


async def test_a_parse_over_its_deadline_is_a_parse_error_and_the_caller_goes_on() -> None:
    release = threading.Event()

    def stuck(text: str) -> str:
        release.wait(timeout=30)
        return text

    try:
        with pytest.raises(ParseDeadlineExceeded, match=r"show x: parsing did not finish within"):
            await parse_off_loop(stuck, "t", deadline=0.2, what="show x")
    finally:
        release.set()
    assert issubclass(ParseDeadlineExceeded, ParseError)


async def test_what_the_parser_raises_reaches_the_caller() -> None:
    with pytest.raises(ParseError, match="line 65: configuration nested deeper than 64"):
        await parse_off_loop(parse_config, "a {\n" * 10_000, deadline=30, what="config")
