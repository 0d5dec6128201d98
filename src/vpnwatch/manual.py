"""`vpnwatch heal`: a hand-triggered heal through the same guards, or a breaker reset."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import replace
from typing import Any

from vpnwatch.app import build_runtime
from vpnwatch.config import Config
from vpnwatch.heal.progress import ProgressStore
from vpnwatch.policy import manual_refusal


def reset_breaker(config: Config, log: Any) -> int:
    runtime = build_runtime(config, log)
    controller = runtime.daemon.controller
    assert controller is not None
    was = controller.state.breaker_reason or "closed"
    controller.request_reset()
    print(f"circuit breaker reset (was: {was})")
    return 0


async def heal_by_hand(config: Config, log: Any, router: str, action: str, assume_yes: bool) -> int:
    runtime = build_runtime(config, log)
    daemon, controller = runtime.daemon, runtime.daemon.controller
    assert controller is not None
    try:
        if controller.executor is None:
            print(
                "vpnwatch heal: healing is disabled (heal.enabled false or ssh disabled)",
                file=sys.stderr,
            )
            return 2
        if runtime.backups is not None:
            await runtime.backups.load([r.name for s in config.sites for r in s.routers])
        daemon.controller = None  # this cycle only observes; the guards are checked below
        result = await daemon.run_cycle()
        daemon.controller = controller
        running = ProgressStore(config.state_dir).unfinished()
        state = replace(
            controller.state,
            paused=controller.paused(),
            heals_in_progress={r.router: "running" for r in running},
        )
        refusal = manual_refusal(
            router, action, result.verdicts, state, controller.facts(result.snapshot.routers)
        )
        if refusal is not None:
            print(f"vpnwatch heal: refusing to {action} {router}: {refusal}", file=sys.stderr)
            return 1
        verdict = next(v for v in result.verdicts if v.router == router)
        mode = (
            "DRY RUN (heal.dry_run is true): nothing will change" if config.heal.dry_run else "LIVE"
        )
        print(f"{action} {router} ({verdict.health.value}: {verdict.reason}) [{mode}]")
        if not assume_yes:
            if not sys.stdin.isatty():
                print("vpnwatch heal: not a terminal; pass --yes to confirm", file=sys.stderr)
                return 1
            answer = await asyncio.to_thread(input, "proceed? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                print("aborted")
                return 1
        obs = next(o for o in result.snapshot.routers if o.name == router)
        target = controller.targets([obs])[router]
        heal_id = controller.executor.start(action, target)
        print(f"heal {heal_id} started")
        await controller.executor.wait_idle()
        record = next(r for r in ProgressStore(config.state_dir).load_all() if r.heal_id == heal_id)
        print(f"heal {heal_id}: {record.status}" + (f": {record.error}" if record.error else ""))
        return 0 if record.status == "done" else 1
    finally:
        await runtime.close()


def run_heal(
    config: Config, log: Any, router: str | None, action: str, assume_yes: bool, reset: bool
) -> int:
    if reset:
        return reset_breaker(config, log)
    if router is None:
        print("vpnwatch heal: --router is required (or --reset-breaker)", file=sys.stderr)
        return 2
    return asyncio.run(heal_by_hand(config, log, router, action, assume_yes))
