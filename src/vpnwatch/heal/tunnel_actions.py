"""Carries out a cycle's tunnel action (issue 12) as a tracked task, like a soft heal.

- reinitiate-ike: read the router's `show version` and `show configuration commands`, pick
  the command that makes it initiate towards that endpoint (`heal/reinitiate.py`), run it.
- apply-maintenance: ReplaceVpnTunnel with ApplyPendingMaintenance, then note it in the
  maintenance book (the next read would say so too).

Every mutation passes the one MutationGate (dry-run says "would have", pause holds, the lease
is checked, the audit records it). While one runs its router counts as being healed, so the
pair guard and `max_concurrent_heals` see it. Reads are not mutations and are not audited.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Protocol

from vpnwatch.adapters.vpn_maintenance import VpnMaintenanceApi
from vpnwatch.adapters.vyos import VyosClient
from vpnwatch.core.decision import TunnelStep
from vpnwatch.heal import background
from vpnwatch.heal.audit import AuditTrail
from vpnwatch.heal.executor import HealTarget
from vpnwatch.heal.gate import HealPaused, MutationGate, NotLeader
from vpnwatch.heal.reinitiate import reinitiate_plan
from vpnwatch.offloop import OP_PARSE_DEADLINE, parse_off_loop
from vpnwatch.statestore.api import FenceLost, Lease, StateStore
from vpnwatch.vocabulary import TunnelAction


class AppliedNote(Protocol):
    def note_applied(self, key: tuple[str, str], at: float) -> None: ...


class TunnelActor:
    def __init__(
        self,
        *,
        store: StateStore,
        lease: Lease,
        vyos: VyosClient,
        api: VpnMaintenanceApi,
        book: AppliedNote | None,
        host_key: Callable[[str], str | None],
        paused: Callable[[], bool],
        log: Any,
        on_result: Callable[[str, str, str], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._lease = lease
        self._vyos = vyos
        self._api = api
        self._book = book
        self._host_key = host_key
        self._paused = paused
        self._log = log
        self._on_result = on_result
        self._clock = clock
        self._audit = AuditTrail(store, lease.current, clock)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._steps: dict[str, str] = {}

    def busy(self) -> dict[str, str]:
        return {r: self._steps.get(r, "") for r, t in self._tasks.items() if not t.done()}

    def start(self, step: TunnelStep, target: HealTarget, *, region: str, dry_run: bool) -> None:
        if step.router in self.busy():
            raise RuntimeError(f"{step.router} already has a tunnel action running")
        self._steps[step.router] = str(step.action)
        self._tasks[step.router] = asyncio.create_task(
            self._run(step, target, region, dry_run), name=f"tunnel-{step.key}"
        )

    async def _run(self, step: TunnelStep, target: HealTarget, region: str, dry_run: bool) -> None:
        action = str(step.action)
        gate = MutationGate(
            dry_run=dry_run,
            is_leader=lambda: self._lease.current() is not None,
            audit=self._audit,
            paused=self._paused,
            log=self._log,
        )
        try:
            if step.action is TunnelAction.REINITIATE_IKE:
                await self._reinitiate(gate, step, target)
            else:
                await self._apply(gate, step, region)
        except asyncio.CancelledError:
            raise
        except (HealPaused, NotLeader, FenceLost) as exc:
            self._log.warning("tunnel action held", tunnel=step.key, action=action, why=str(exc))
            return
        except Exception as exc:  # the gate audited it; the next cycle decides again
            error = f"{type(exc).__name__}: {exc}"
            self._log.error("tunnel action failed", tunnel=step.key, action=action, error=error)
            self._on_result(step.router, action, "failure")
            return
        finally:
            self._steps.pop(step.router, None)
        self._on_result(step.router, action, "dry_run" if dry_run else "success")

    def _common(self, step: TunnelStep) -> dict[str, str]:
        now = self._clock()
        return {
            "heal_id": f"{step.router}-{step.action}-{int(now)}",
            "router": step.router,
            "action": str(step.action),
            "step": f"{step.action} {step.outside_ip}",
        }

    async def _reinitiate(self, gate: MutationGate, step: TunnelStep, target: HealTarget) -> None:
        endpoint = target.endpoint(self._host_key(target.router))
        version = await self._vyos.run_op(endpoint, "show version")
        config = await self._vyos.run_op(endpoint, "show configuration commands")
        plan = await parse_off_loop(
            reinitiate_plan,
            step.router,
            version,
            config,
            step.outside_ip,
            deadline=OP_PARSE_DEADLINE,
            what="the router's version and configuration",
        )
        await gate.mutate(
            **self._common(step),
            description=plan.description,
            call=lambda: self._vyos.run_op(endpoint, plan.command),
        )

    async def _apply(self, gate: MutationGate, step: TunnelStep, region: str) -> None:
        vpn, ip = step.vpn_connection_id, step.outside_ip
        done = await gate.mutate(
            **self._common(step),
            description=f"apply AWS's pending maintenance to tunnel {ip} of {vpn}",
            call=lambda: self._api.apply_pending(region, vpn, ip),
        )
        if done and self._book is not None:
            self._book.note_applied((vpn, ip), self._clock())

    async def wait_idle(self) -> None:
        await background.wait_idle(self._tasks)

    async def close(self) -> None:
        await background.cancel_all(self._tasks)
