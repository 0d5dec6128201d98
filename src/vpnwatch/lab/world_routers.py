"""The world's simulated VyOS routers, one slot per topology router, on the world's loop.

A slot keeps the router's name, plan and SSH port across instance replacements: a relaunched
instance of that router boots a new simulated router (fresh host key, the AMI's config plus
what its user data asks for) on the same port, so the daemon's config keeps pointing at it.
A stopped instance keeps its router (its disk: config and host key) and boots it again on
start. Called from the emulated AWS's request threads (instance events, telemetry) and from
the lab's API; thread-safe.

Timing: boots wait on the loop in real time (`boot_delay`, after the pending window of a
launch or start); console lines are stamped with the world's monotonic clock.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from vpnwatch.lab.console_book import ConsoleBook
from vpnwatch.lab.loop_thread import LoopThread
from vpnwatch.lab.router_plans import RouterPlan
from vpnwatch.lab.router_power import PowerEvents
from vpnwatch.lab.router_slots import Launch, RouterSlot, built_router, launched_router
from vpnwatch.lab.safety import LabError
from vpnwatch.lab.telemetry import TunnelRef, TunnelState
from vpnwatch.lab.vpn_details import TunnelPlan
from vpnwatch.lab.vyos_sim import Fault, SimulatedRouter, Timings
from vpnwatch.lab.vyos_sim.boot_scripts import run_postconfig_scripts
from vpnwatch.lab.vyos_sim.console import boot_lines, host_label, ready_lines
from vpnwatch.lab.vyos_sim.formats import Version
from vpnwatch.lab.vyos_sim.negotiation import AwsCrypto

_log = logging.getLogger("vpnwatch.lab.routers")
FAULT_KINDS = tuple(str(f) for f in Fault)
__all__ = ["FAULT_KINDS", "Launch", "RouterSlot", "WorldRouters"]


class WorldRouters(PowerEvents):
    def __init__(
        self,
        loop: LoopThread,
        plans: tuple[RouterPlan, ...],
        client_public_key: str,
        *,
        monotonic: Callable[[], float],
        timings: Timings | None = None,
        boot_delay: float = 1.0,
        console_delay: float = 1.0,
        host: str = "127.0.0.1",
        key_pair_keys: Mapping[str, str] | None = None,
    ) -> None:
        self._loop = loop
        self._client_key = client_public_key
        self._key_pair_keys = dict(key_pair_keys or {})  # router → its KeyName's public key
        self._monotonic = monotonic
        self._timings = timings or Timings()
        self.boot_delay = boot_delay
        self.console_delay = console_delay
        self.consoles = ConsoleBook()
        self.host = host
        self._lock = threading.RLock()
        self._plans = {p.name: p for p in plans}
        self._slots: dict[str, RouterSlot] = {}
        self._owner: dict[str, str] = {}  # instance id → router name (every one it had)
        self._pending: set[concurrent.futures.Future[None]] = set()

    # ------------------------------------------------------------ lifecycle

    def start(
        self,
        instances: Mapping[str, tuple[str, str]],
        timeout: float = 30.0,
        *,
        blank: bool = False,
    ) -> None:
        """Boot every planned router with the article's config (`blank`: AMI defaults only).

        `instances`: router name → (instance id, primary ENI id) as the topology built them.
        """

        async def boot_all() -> list[SimulatedRouter]:
            routers = [
                built_router(
                    p, self._client_key, self._key_pair_keys.get(p.name), self._timings,
                    blank=blank,
                )
                for p in self._plans.values()
            ]  # fmt: skip
            results = await asyncio.gather(
                *(r.start(self.host, 0) for r in routers), return_exceptions=True
            )
            failed = [r for r in results if isinstance(r, BaseException)]
            if failed:
                await asyncio.gather(*(r.stop() for r in routers), return_exceptions=True)
                raise failed[0]
            return routers

        routers = self._loop.run(boot_all(), timeout)
        with self._lock:
            for router in routers:
                iid, eni = instances[router.name]
                plan = self._plans[router.name]
                self._slots[router.name] = RouterSlot(plan, iid, eni, router.port, router=router)
                self._slots[router.name].instances.append(iid)
                self._owner[iid] = router.name
                self._print(iid, router, float("-inf"), booted=True)

    def wait_established(self, timeout: float = 30.0) -> bool:
        """Wait until every live router has BGP Established on all of its tunnels."""
        pause = threading.Event()  # never set: a sleep that is not a busy loop
        deadline = time.monotonic() + timeout
        while not all(self._established(slot) for slot in self._all_slots()):
            if time.monotonic() >= deadline:
                return False
            pause.wait(0.05)
        return True

    def _established(self, slot: RouterSlot) -> bool:
        router = slot.router
        if router is None or slot.state != "running":
            return True
        return all(router.bgp_up(t.outside_ip) for t in slot.plan.tunnels)

    def stop(self, timeout: float = 30.0) -> None:
        """Cancel pending boots and stop every router."""
        with self._lock:
            pending, self._pending = list(self._pending), set()
            routers = [s.router for s in self._slots.values() if s.router is not None]
            for slot in self._slots.values():
                slot.router, slot.generation = None, slot.generation + 1
        for future in pending:
            future.cancel()
        if not self._loop.running:
            return

        async def stop_all() -> None:
            await asyncio.gather(*(r.stop() for r in routers), return_exceptions=True)

        self._loop.run(stop_all(), timeout)

    def _submit(self, coro: Any) -> None:
        future: concurrent.futures.Future[None] = self._loop.submit(coro)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._finished)

    def _finished(self, future: concurrent.futures.Future[None]) -> None:
        with self._lock:
            self._pending.discard(future)
        if not future.cancelled() and future.exception() is not None:
            _log.error("router task failed: %s", future.exception())

    # ------------------------------------------------------------ lookups

    def _all_slots(self) -> list[RouterSlot]:
        with self._lock:
            return list(self._slots.values())

    def _slot(self, name: str) -> RouterSlot:
        with self._lock:
            slot = self._slots.get(name)
        if slot is None:
            raise LabError(f"no router named {name!r} in this world")
        return slot

    @property
    def names(self) -> list[str]:
        with self._lock:
            return list(self._slots)

    def owner_of(self, instance_id: str) -> str | None:
        with self._lock:
            return self._owner.get(instance_id)

    def instances(self) -> dict[str, str]:
        """Router name → the instance it runs on now."""
        return {s.plan.name: s.instance_id for s in self._all_slots()}

    def instance_of(self, name: str) -> str:
        return self._slot(name).instance_id

    def simulated(self, name: str) -> SimulatedRouter | None:
        """The live simulated router of that name (None while its instance is gone/booting)."""
        return self._slot(name).router

    def landing(self, subnet_id: str, private_ip: str, eni_id: str) -> str | None:
        """The router a new instance on (subnet, IP) or on a router's kept ENI replaces."""
        with self._lock:
            for slot in self._slots.values():
                same_ip = (slot.plan.subnet_id, slot.plan.private_ip) == (subnet_id, private_ip)
                if same_ip or eni_id == slot.eni_id:
                    return slot.plan.name
        return None

    def endpoints(self) -> dict[str, tuple[str, int]]:
        return {s.plan.name: (self.host, s.port) for s in self._all_slots()}

    def host_keys(self) -> list[tuple[str, int, str]]:
        """(host, port, host key) of every live router, for a known_hosts file."""
        return [
            (self.host, s.port, s.router.host_key_public)
            for s in self._all_slots()
            if s.router is not None
        ]

    # ------------------------------------------------------------ what AWS asks

    def telemetry(self, ref: TunnelRef, router_name: str | None) -> TunnelState | None:
        """The tunnel as AWS sees it from the router's side; DOWN while no router runs."""
        if router_name is None:
            return None
        with self._lock:
            slot = self._slots.get(router_name)
        if slot is None:
            return None
        router = slot.router
        if router is None or slot.state in ("terminated", "booting", "failed"):
            return TunnelState.down()
        view = router.aws_telemetry(ref.outside_ip)
        return TunnelState(view.status, view.accepted_route_count, view.status_message)

    def console(self, instance_id: str, *, latest: bool) -> tuple[bool, str | None]:
        """(is a router instance, its console output now — None while nothing is posted).
        `latest`: the serial console as it is now; else the buffered post, `console_delay`
        behind."""
        with self._lock:
            if instance_id not in self._owner:
                return False, None
        delay = 0.0 if latest else self.console_delay
        return True, self.consoles.text(instance_id, self._monotonic(), delay=delay)

    def _print(self, instance_id: str, router: SimulatedRouter, at: float, *, booted: bool) -> None:
        core = router.core
        lines = boot_lines(router.version, core.private_ip, core.booted_at)
        if booted:
            lines += ready_lines(host_label(core.private_ip))
        self.consoles.print(instance_id, lines, at)

    def update_tunnel(self, name: str, tunnel: TunnelPlan) -> bool:
        """AWS changed its side of one of router `name`'s tunnels (ModifyVpnTunnelOptions):
        the router's view of AWS follows, now and for any relaunched instance."""
        with self._lock:
            slot = self._slot(name)
            old = next((t for t in slot.plan.tunnels if t.outside_ip == tunnel.outside_ip), None)
            if old is None:
                return False
            allowed = tunnel.crypto.allowed()
            spec = replace(
                old,
                inside_cidr=tunnel.inside_cidr,
                aws_inside_ip=tunnel.aws_inside_ip,
                router_inside_ip=tunnel.router_inside_ip,
                psk=tunnel.psk,
                crypto=AwsCrypto(**allowed),
            )
            tunnels = tuple(spec if t is old else t for t in slot.plan.tunnels)
            slot.plan = replace(slot.plan, tunnels=tunnels)
            router = slot.router
        return router.update_tunnel(spec) if router is not None else True

    # ------------------------------------------------------------ instance events

    def terminated(self, instance_id: str) -> None:
        """The router's instance is gone: its SSH server goes down now (waits for it)."""
        with self._lock:
            name = self._owner.get(instance_id)
            slot = self._slots.get(name) if name else None
            if slot is None or slot.instance_id != instance_id:
                return
            router, slot.router = slot.router, None
            slot.state, slot.generation = "terminated", slot.generation + 1
        if router is not None:
            self._loop.run(router.stop())

    def launched(self, name: str, instance_id: str, eni_id: str, launch: Launch) -> None:
        """A new instance of router `name`: it boots on its port once pending and booted."""
        with self._lock:
            slot = self._slot(name)
            old, slot.router = slot.router, None
            slot.instance_id, slot.state = instance_id, "booting"
            slot.generation += 1
            slot.instances.append(instance_id)
            slot.eni_id, slot.impaired = eni_id, False
            slot.boot_scripts = launch.boot_scripts
            self._owner[instance_id] = name
            tamper, slot.tamper_next = slot.tamper_next, False
            generation = slot.generation
        self.consoles.start(instance_id)
        if old is not None:  # should not happen (its IP was in use), but never leak one
            self._loop.run(old.stop())
        self._submit(self._boot(slot, generation, instance_id, launch, tamper))

    async def _boot(
        self, slot: RouterSlot, generation: int, instance_id: str, launch: Launch, tamper: bool
    ) -> None:
        await asyncio.sleep(launch.boot_after)
        if slot.generation != generation:
            return
        router = launched_router(slot, launch, self._timings, tamper=tamper)
        try:
            await router.start(self.host, slot.port)
        except OSError as exc:
            _log.error("router %s cannot listen on port %d: %s", slot.plan.name, slot.port, exc)
            await router.stop()
            with self._lock:
                if slot.generation == generation:
                    slot.state = "failed"
            return
        with self._lock:
            stale = slot.generation != generation
            if not stale:
                slot.router, slot.state = router, "running"
        if stale:
            await router.stop()
            return
        await self._finish_boot(slot, instance_id, router)

    async def _finish_boot(
        self, slot: RouterSlot, instance_id: str, router: SimulatedRouter
    ) -> None:
        """Console lines of a boot: kernel and cloud-init, the boot scripts' output, login."""
        core = router.core
        self.consoles.print(
            instance_id, boot_lines(router.version, core.private_ip, core.booted_at),
            self._monotonic(),
        )  # fmt: skip
        script_lines = await run_postconfig_scripts(core.fs_root) if slot.boot_scripts else []
        self.consoles.print(
            instance_id, [*script_lines, *ready_lines(host_label(core.private_ip))],
            self._monotonic(),
        )  # fmt: skip

    def plan_version(self, name: str) -> Version:
        return self._slot(name).plan.version

    @property
    def client_key(self) -> str:
        """The daemon's public key (OpenSSH line)."""
        return self._client_key

    def tamper_next_console(self, name: str) -> None:
        """The next relaunch of `name` presents a host key other than the one on its disk
        (the one its boot script prints): a man in the middle."""
        with self._lock:
            self._slot(name).tamper_next = True

    def _live(self, name: str) -> SimulatedRouter:
        slot = self._slot(name)
        if slot.router is None:
            raise LabError(f"router {name} is not running (its instance is {slot.state})")
        return slot.router

    def set_fault(self, name: str, kind: str, delay: float | None = None) -> dict[str, Any]:
        if kind not in FAULT_KINDS:
            raise LabError(f"unknown fault {kind!r}: use one of {', '.join(FAULT_KINDS)}")
        if delay is not None and kind != "slow":
            raise LabError("a delay only applies to the slow fault")
        router = self._live(name)
        self._loop.run(router.set_fault(kind, delay=delay))
        return self.view(name)

    def clear_fault(self, name: str, kind: str | None = None) -> dict[str, Any]:
        if kind is not None and kind not in FAULT_KINDS:
            raise LabError(f"unknown fault {kind!r}: use one of {', '.join(FAULT_KINDS)}")
        router = self._live(name)
        self._loop.run(router.clear_fault(kind))
        return self.view(name)

    # ------------------------------------------------------------ views

    def view(self, name: str) -> dict[str, Any]:
        slot = self._slot(name)
        router = slot.router
        live = router.state_dict() if router is not None else {}
        return {
            "name": name,
            "instance_id": slot.instance_id,
            "state": slot.state,
            "version": router.version if router is not None else slot.plan.version,
            "port": slot.port,
            "ssh": live.get("ssh"),
            "alive": bool(live.get("alive", False)),
            "faults": live.get("faults", []),
            "bgp": live.get("bgp", {}),
            "ipsec": live.get("ipsec", {}),
            "host_key": router.host_key_public if router is not None else None,
            "instances": list(slot.instances),
            "impaired": slot.impaired,
        }

    def views(self) -> list[dict[str, Any]]:
        return [self.view(name) for name in self.names]
