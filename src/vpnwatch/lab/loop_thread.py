"""One asyncio event loop in a dedicated thread, so sync code (and pytest) can drive async
parts of the world (the simulated routers' SSH servers) without owning a loop itself."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from vpnwatch.lab.safety import LabError

T = TypeVar("T")


class LoopThread:
    """`start()` runs a fresh loop in a daemon thread; `stop()` cancels what is left on it,
    closes it and joins the thread. `run()` blocks the caller; `submit()` does not."""

    def __init__(self, name: str = "vpnwatch-lab-loop") -> None:
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise LabError("the lab's event loop is not running")
        return self._loop

    @property
    def running(self) -> bool:
        return self._loop is not None

    def in_loop_thread(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    def start(self) -> None:
        if self._loop is not None:
            return
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def main() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        thread = threading.Thread(target=main, name=self.name, daemon=True)
        thread.start()
        ready.wait()
        self._loop, self._thread = loop, thread

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule `coro` on the loop; the future can be awaited with asyncio.wrap_future."""
        if self._loop is None:
            coro.close()
            raise LabError("the lab's event loop is not running")
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run `coro` on the loop and wait for its result (never from the loop's own thread)."""
        if self.in_loop_thread():
            coro.close()
            raise LabError("LoopThread.run called from the loop's own thread (it would deadlock)")
        return self.submit(coro).result(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel every task still on the loop, stop it, join the thread. Safe to call twice."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self._loop = self._thread = None

        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await loop.shutdown_asyncgens()
            await loop.shutdown_default_executor()  # getaddrinfo threads

        try:
            asyncio.run_coroutine_threadsafe(cancel_all(), loop).result(timeout)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)
            if not thread.is_alive():
                loop.close()
