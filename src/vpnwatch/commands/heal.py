"""`vpnwatch heal --router R --action A`: a heal by hand, through the same guards;
`--rehearse`: the replacement's preflight only, changing nothing.

The request is previewed first (the pure cycle step with this request, changing nothing),
confirmed, then stored. If a daemon leads, it carries the request out and this command
follows the heal; if none runs, this command takes the lease and does it itself.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from tenacity import AsyncRetrying, retry_if_result, stop_after_delay, wait_fixed

from vpnwatch.commands.common import EXIT_CONFIG, EXIT_FAILED, EXIT_OK
from vpnwatch.commands.operator import answer_timeout, new_request, wait_answer
from vpnwatch.config import Config
from vpnwatch.core.records import HealRecord
from vpnwatch.service.wiring import Service, build_rehearsal_side, build_service
from vpnwatch.statestore.api import StateStore
from vpnwatch.vocabulary import Action, HealStatus, RequestKind, RequestStatus


async def _confirm(prompt: str) -> bool:
    if not sys.stdin.isatty():
        print("vpnwatch heal: not a terminal; pass --yes to confirm", file=sys.stderr)
        return False
    answer = await asyncio.to_thread(input, prompt)
    return answer.strip().lower() in ("y", "yes")


def _record(store: StateStore, heal_id: str) -> HealRecord | None:
    records, _ = store.heal_records()
    return next((r for r in records if r.heal_id == heal_id), None)


async def _follow(store: StateStore, heal_id: str, limit: float) -> HealRecord | None:
    """The heal record once it is no longer running (the daemon runs the heal), printing
    each step as it is done."""
    printed: list[str] = []

    def still_running(record: HealRecord | None) -> bool:
        done = record.steps_done[-1] if record and record.steps_done else ""
        if done and done not in printed:
            print(f"heal {heal_id}: {done} done")
            printed.append(done)
        return record is None or record.status is HealStatus.RUNNING

    poll = AsyncRetrying(
        stop=stop_after_delay(limit),
        wait=wait_fixed(0.5),
        retry=retry_if_result(still_running),
        retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
    )
    record: HealRecord | None = await poll(asyncio.to_thread, _record, store, heal_id)
    return record


async def heal_by_hand(
    config: Config, log: Any, router: str, action: Action, assume_yes: bool
) -> int:
    service: Service = build_service(config, log, auto=False)
    try:
        if service.executor is None:
            print(
                "vpnwatch heal: healing is disabled (heal.enabled false or ssh disabled)",
                file=sys.stderr,
            )
            return EXIT_CONFIG
        leading = service.lease.acquire() is not None
        if service.backups is not None:
            await service.backups.load([r.name for s in config.sites for r in s.routers])
        request = new_request(
            RequestKind.HEAL, time.time(), router=router, action=action, dry_run=config.heal.dry_run
        )
        preview = await service.loop.run_cycle(preview=[request])
        if preview.state_problems:
            print(f"vpnwatch heal: {preview.reason}", file=sys.stderr)
            return EXIT_FAILED
        (answer,) = [a for a in preview.decision.answers if a.request_id == request.request_id]
        if answer.status is RequestStatus.REFUSED:
            print(f"vpnwatch heal: refusing to {action} {router}: {answer.answer}", file=sys.stderr)
            return EXIT_FAILED
        verdict = next(v for v in preview.verdicts if v.router == router)
        mode = (
            "DRY RUN (heal.dry_run is true): nothing will change" if config.heal.dry_run else "LIVE"
        )
        print(f"{action} {router} ({verdict.health.value}: {verdict.reason}) [{mode}]")
        if not leading:
            print(f"a running vpnwatch ({service.lease.holder()}) leads: it will carry this out")
        if not assume_yes and not await _confirm("proceed? [y/N] "):
            print("aborted")
            return EXIT_FAILED
        service.store.submit(request)
        if leading:
            await service.loop.run_cycle(snapshot=preview.snapshot)
            answered = service.store.request(request.request_id)
        else:
            wait = answer_timeout(config)
            answered = await asyncio.to_thread(wait_answer, service.store, request, wait)
        if answered is None or answered.pending:
            print("vpnwatch heal: no answer in time; the request was withdrawn", file=sys.stderr)
            return EXIT_FAILED
        if answered.status is RequestStatus.REFUSED or answered.heal_id is None:
            print(f"vpnwatch heal: refused: {answered.answer}", file=sys.stderr)
            return EXIT_FAILED
        heal_id = answered.heal_id
        print(f"heal {heal_id} started")
        if leading:
            await service.executor.wait_idle()
            record = _record(service.store, heal_id)
        else:
            t = config.heal.timeouts
            limit = t.api + t.terminate + t.launch + t.running + t.ssh + t.console
            limit += t.restore + t.verify + 600
            record = await _follow(service.store, heal_id, limit)
        if record is None or record.status is HealStatus.RUNNING:
            print(f"heal {heal_id}: still running (see vpnwatch requests, the audit trail)")
            return EXIT_FAILED
        print(f"heal {heal_id}: {record.status}" + (f": {record.error}" if record.error else ""))
        return EXIT_OK if record.status is HealStatus.DONE else EXIT_FAILED
    finally:
        await service.close()


async def rehearse_by_hand(config: Config, log: Any, router: str | None, as_json: bool) -> int:
    """`vpnwatch heal --router R --rehearse [--json]`: the replacement's preflight for real
    (reads and DryRun calls, no change). Prints {"router", "ok", "checks": [{"name", "ok",
    "detail"}]}; exit 0 when every check passes, 1 when one does not, 2 on a config error."""
    names = sorted(r.name for s in config.sites for r in s.routers)
    if router is None or router not in names:
        print(f"vpnwatch heal: --rehearse needs --router, one of {', '.join(names)}",
              file=sys.stderr)  # fmt: skip
        return EXIT_CONFIG
    side = build_rehearsal_side(config, log)
    try:
        result = await side.rehearse(router)
    finally:
        await side.close()
    if as_json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        for check in result.checks:
            print(f"{'ok  ' if check.ok else 'FAIL'}  {check.name}: {check.detail}")
        print(f"{router}: {'ready to be replaced' if result.ok else 'NOT ready to be replaced'}")
    return EXIT_OK if result.ok else EXIT_FAILED
