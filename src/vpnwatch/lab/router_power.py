"""Power events of the world's routers: reboot, stop, start, a broken host, a dying launch.
Mixed into `WorldRouters` (which owns the slots, the loop and the consoles)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from vpnwatch.lab.console_book import ConsoleBook
from vpnwatch.lab.loop_thread import LoopThread
from vpnwatch.lab.router_slots import RouterSlot, SlotState
from vpnwatch.lab.vyos_sim import Fault, SimulatedRouter


class PowerEvents:
    _lock: threading.RLock
    _loop: LoopThread
    _owner: dict[str, str]
    _slots: dict[str, RouterSlot]
    consoles: ConsoleBook
    boot_delay: float
    _monotonic: Callable[[], float]

    def _slot(self, name: str) -> RouterSlot:
        raise NotImplementedError

    def _submit(self, coro: Any) -> None:
        raise NotImplementedError

    async def _finish_boot(
        self, slot: RouterSlot, instance_id: str, router: SimulatedRouter
    ) -> None:
        raise NotImplementedError

    def rebooted(self, instance_id: str) -> None:
        """RebootInstances: down now, back after the boot delay with its saved config."""
        self._power_cycle(instance_id, "rebooting", self.boot_delay, new_host=False)

    def stopped(self, instance_id: str) -> None:
        """StopInstances: the router powers off; its disk (config, host key) stays."""
        with self._lock:
            slot = self._slot_of(instance_id)
            if slot is None or slot.router is None:
                return
            router = slot.router
            slot.state, slot.generation = "stopped", slot.generation + 1
        self._loop.run(router.set_fault(Fault.CRASH))
        self.consoles.print(instance_id, ["[  OK  ] Reached target System Power Off."],
                            self._monotonic())  # fmt: skip

    def started(self, instance_id: str, after: float) -> None:
        """StartInstances: on new hardware, it boots its saved config after `after` s."""
        self._power_cycle(instance_id, "booting", after + self.boot_delay, new_host=True)

    def _slot_of(self, instance_id: str) -> RouterSlot | None:
        name = self._owner.get(instance_id)
        slot = self._slots.get(name) if name else None
        return slot if slot is not None and slot.instance_id == instance_id else None

    def _power_cycle(
        self, instance_id: str, state: SlotState, delay: float, *, new_host: bool
    ) -> None:
        with self._lock:
            slot = self._slot_of(instance_id)
            if slot is None or slot.router is None:
                return
            router = slot.router
            if new_host:
                slot.impaired = False
            slot.state, slot.generation = state, slot.generation + 1
            generation = slot.generation
        self._loop.run(router.set_fault(Fault.CRASH))
        self._submit(self._come_back(slot, router, generation, instance_id, delay))

    async def _come_back(
        self, slot: RouterSlot, router: SimulatedRouter, generation: int, instance_id: str,
        delay: float,
    ) -> None:  # fmt: skip
        await asyncio.sleep(delay)
        if slot.generation != generation or slot.router is not router or slot.impaired:
            return  # a broken host does not come back from a reboot
        await router.clear_fault()  # a reboot cures every software fault
        with self._lock:
            if slot.generation != generation:
                return
            slot.state = "running"
        await self._finish_boot(slot, instance_id, router)

    def impair(self, name: str) -> str:
        """The router's host breaks: it goes down and its status checks fail until the
        instance is stopped and started (new hardware). Returns the instance id."""
        with self._lock:
            slot = self._slot(name)
            router, slot.impaired = slot.router, True
        if router is not None:
            self._loop.run(router.set_fault(Fault.CRASH))
        return slot.instance_id

    def doom_next_launch(self, name: str, code: str, message: str) -> None:
        """The next launch of `name` dies in `pending` with that StateReason."""
        with self._lock:
            self._slot(name).doom_next = (code, message)

    def take_doom(self, name: str) -> tuple[str, str] | None:
        with self._lock:
            slot = self._slots.get(name)
            if slot is None:
                return None
            doom, slot.doom_next = slot.doom_next, None
            return doom

    def impaired(self, instance_id: str) -> bool:
        with self._lock:
            slot = self._slot_of(instance_id)
            return slot is not None and slot.impaired

    # ------------------------------------------------------------ the lab's knobs
