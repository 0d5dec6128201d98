"""The metrics HTTP server's error path: each rule of httpserver.py against real sockets.

Before issue 9, a request that could not be read left `method` unbound: no 400, a 7-line
traceback per bad request, and a 20 MB POST got a reset instead of an answer.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.registry import Collector
from structlog.testing import capture_logs

from vpnwatch.httpserver import MetricsServer

pytestmark = pytest.mark.timeout(60)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class BlockingCollector(Collector):
    """Holds every /metrics rendering until released (answers that stay in progress)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = 0
        self._lock = threading.Lock()

    def collect(self) -> Iterator[Any]:
        with self._lock:
            self.started += 1
        self.release.wait(timeout=20)
        return iter(())


@dataclass
class Served:
    server: MetricsServer
    registry: CollectorRegistry
    clock: Clock

    @property
    def port(self) -> int:
        return self.server.port


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    registry = CollectorRegistry()
    Gauge("vpnwatch_test_up", "test gauge", registry=registry).set(1)
    clock = Clock()
    server = MetricsServer(
        registry, host="127.0.0.1", port=0, healthy=lambda: True, ready=lambda: False,
        max_connections=4, head_timeout=0.5, write_timeout=2.0, linger=1.0,
        log_burst=3, log_window=60.0, clock=clock,
    )  # fmt: skip
    await server.start()
    try:
        yield Served(server, registry, clock)
    finally:
        await server.stop()


async def exchange(port: int, data: bytes, *, shut: bool = True) -> bytes:
    """Send `data` (then EOF), read the whole answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        if shut:
            writer.write_eof()
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
        await writer.wait_closed()


def status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def header(answer: bytes, name: str) -> str | None:
    head = answer.partition(b"\r\n\r\n")[0].decode()
    for line in head.split("\r\n")[1:]:
        key, _, value = line.partition(":")
        if key.lower() == name.lower():
            return value.strip()
    return None


async def test_get_and_head_answer(served: Served) -> None:
    answer = await exchange(served.port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status(answer) == 200 and b"vpnwatch_test_up 1.0" in answer
    assert header(answer, "Connection") == "close"
    head = await exchange(served.port, b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    body = answer.partition(b"\r\n\r\n")[2]
    assert status(head) == 200 and head.endswith(b"\r\n\r\n")
    assert header(head, "Content-Length") == str(len(body))
    assert status(await exchange(served.port, b"GET /healthz HTTP/1.0\r\n\r\n")) == 200
    assert (
        status(await exchange(served.port, b"GET /readyz?x=1 HTTP/1.1\r\nHost: x\r\n\r\n")) == 503
    )
    assert status(await exchange(served.port, b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")) == 404


@pytest.mark.parametrize(
    ("request_bytes", "expected"),
    [
        (b"garbage\r\n\r\n", 400),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)), 400),
        (b"GET /metrics HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", 400),
        (b"GET /metrics HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 9000 + b"\r\n\r\n", 431),
        (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
        (b"DELETE /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 405),
        (b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", 413),
        (b"GET /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 413),
    ],
)
async def test_bad_requests_get_their_status(
    served: Served, request_bytes: bytes, expected: int
) -> None:
    answer = await exchange(served.port, request_bytes)
    assert status(answer) == expected, answer[:200]
    assert header(answer, "Connection") == "close"
    if expected == 405:
        assert header(answer, "Allow") == "GET, HEAD"


async def test_a_20_mb_post_gets_405_not_a_reset(served: Served) -> None:
    size = 20 * 1024 * 1024
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    writer.write(f"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n".encode())

    async def send_body() -> None:
        chunk = b"x" * (1 << 20)
        for _ in range(20):
            writer.write(chunk)
            await writer.drain()
        writer.write_eof()

    sending = asyncio.create_task(send_body())
    answer = await asyncio.wait_for(reader.read(), 20)
    await asyncio.gather(sending, return_exceptions=True)
    writer.close()
    await asyncio.gather(writer.wait_closed(), return_exceptions=True)
    assert status(answer) == 405 and header(answer, "Allow") == "GET, HEAD"


async def test_slowloris_gets_408_at_the_head_timeout(served: Served) -> None:
    answer = await exchange(
        served.port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n", shut=False
    )  # the blank line never comes
    assert status(answer) == 408


async def test_slow_clients_cannot_lock_out_a_scrape(served: Served) -> None:
    slow = [await asyncio.open_connection("127.0.0.1", served.port) for _ in range(12)]
    for _, writer in slow:
        writer.write(b"GET /metrics HTTP/1.1\r\n")  # and then nothing, until the timeout
    await asyncio.sleep(0.05)
    answer = await exchange(served.port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status(answer) == 200
    for _, writer in slow:
        writer.close()
    await asyncio.gather(*(w.wait_closed() for _, w in slow), return_exceptions=True)


async def test_no_room_when_every_connection_is_being_answered(served: Served) -> None:
    blocker = BlockingCollector()
    served.registry.register(blocker)
    get = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
    try:
        busy = [asyncio.create_task(exchange(served.port, get)) for _ in range(4)]
        for _ in range(1000):  # until the four are being answered (their rendering is held)
            if blocker.started == 4:
                break
            await asyncio.sleep(0.01)
        assert blocker.started == 4
        refused = await exchange(served.port, get)
        assert status(refused) == 503
    finally:
        blocker.release.set()
    assert [status(a) for a in await asyncio.gather(*busy)] == [200] * 4


async def test_bad_requests_are_logged_one_line_each_rate_limited_never_a_traceback(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="asyncio")
    with capture_logs() as logs:
        for _ in range(20):
            await exchange(served.port, b"garbage\r\n\r\n")
        for cut in (b"G", b"GET /metr", b"GET /metrics HTTP/1.1\r\nHo"):
            await exchange(served.port, cut)  # the client gives up half way: no answer needed
        served.clock.now += 61  # a new window: first a line saying what was left out
        await exchange(served.port, b"garbage\r\n\r\n")
    events = [e["event"] for e in logs]
    assert events == ["http.bad_request"] * 3 + ["http.bad_requests_not_logged", "http.bad_request"]
    # 17 garbage + 3 cut short (a request that ends half way is malformed too)
    assert [e.get("count") for e in logs if e["event"].endswith("not_logged")] == [20]
    assert logs[0]["status"] == 400 and logs[0]["problem"] == "malformed request"
    assert all("garbage" not in repr(e) and "exc_info" not in e for e in logs)
    assert not caplog.records, [r.getMessage() for r in caplog.records]  # asyncio said nothing
