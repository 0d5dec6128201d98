"""Many simulated routers on one event loop (the benchmark runs 1,000)."""

from __future__ import annotations

import asyncio
import resource
from collections.abc import Iterable, Iterator
from types import TracebackType

from vpnwatch.lab.vyos_sim.server import SimulatedRouter

# A listening socket per router plus a few connections each.
_FDS_PER_ROUTER = 4


def _raise_fd_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


class RouterFleet:
    """Starts and stops a set of routers concurrently (bounded), by name."""

    def __init__(self, routers: Iterable[SimulatedRouter] = (), *, concurrency: int = 64) -> None:
        self._routers: dict[str, SimulatedRouter] = {}
        self._concurrency = concurrency
        for router in routers:
            self.add(router)

    def add(self, router: SimulatedRouter) -> None:
        if router.name in self._routers:
            raise ValueError(f"a router named {router.name!r} is already in the fleet")
        self._routers[router.name] = router

    def __getitem__(self, name: str) -> SimulatedRouter:
        return self._routers[name]

    def __iter__(self) -> Iterator[SimulatedRouter]:
        return iter(self._routers.values())

    def __len__(self) -> int:
        return len(self._routers)

    async def _each(self, action: str) -> None:
        limit = asyncio.Semaphore(self._concurrency)

        async def run(router: SimulatedRouter) -> None:
            async with limit:
                await (router.start() if action == "start" else router.stop())

        results = await asyncio.gather(
            *(run(r) for r in self._routers.values()), return_exceptions=True
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]

    async def start(self) -> None:
        _raise_fd_limit(256 + _FDS_PER_ROUTER * len(self._routers))
        await self._each("start")

    async def stop(self) -> None:
        await self._each("stop")

    async def __aenter__(self) -> RouterFleet:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
