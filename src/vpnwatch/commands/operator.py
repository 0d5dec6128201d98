"""Operator requests: `vpnwatch heal --reset-breaker`, `vpnwatch pause|resume`,
`vpnwatch requests`.

A request is a record in the state store. The process holding the lease takes it: a running
daemon (this command then waits for its answer), or, when none runs, this command itself,
with the same transitions the daemon's loop uses.
"""

from __future__ import annotations

import getpass
import json
import os
import secrets
import socket
import sys
import time
from dataclasses import replace

from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

from vpnwatch.commands.common import EXIT_FAILED, EXIT_OK
from vpnwatch.config import Config
from vpnwatch.core.cycle import take_requests
from vpnwatch.core.records import OperatorRequest
from vpnwatch.service.state_backend import StateBackend, open_state
from vpnwatch.statestore.api import StateStore
from vpnwatch.vocabulary import Action, Mode, RequestKind, RequestStatus


def new_request(
    kind: RequestKind,
    now: float,
    *,
    router: str | None = None,
    action: Action | None = None,
    dry_run: bool | None = None,
) -> OperatorRequest:
    by = f"{getpass.getuser()}@{socket.gethostname()} (pid {os.getpid()})"
    return OperatorRequest(
        f"{kind}-{int(now)}-{secrets.token_hex(3)}",
        kind,
        now,
        by,
        router=router,
        action=action,
        dry_run=dry_run,
    )


def state_store(config: Config) -> StateBackend:
    """The store to read (and, for `state reset`, repair); close it when done."""
    return open_state(config)


def _answered(request: OperatorRequest | None) -> bool:
    return request is not None and not request.pending


def wait_answer(
    store: StateStore, request: OperatorRequest, limit: float
) -> OperatorRequest | None:
    """The request once a leader answered it; None (and withdrawn) if none did in time: a
    request nobody took must not be carried out hours later by surprise."""
    poll = Retrying(
        stop=stop_after_delay(limit),
        wait=wait_fixed(0.2),
        retry=retry_if_result(lambda current: not _answered(current)),
        retry_error_callback=lambda _: None,
    )
    answered: OperatorRequest | None = poll(store.request, request.request_id)
    if answered is not None:
        return answered
    store.withdraw(request)
    current = store.request(request.request_id)  # unless it was taken meanwhile
    return current if _answered(current) else None


def answer_timeout(config: Config) -> float:
    return 3 * config.health.interval + 15.0


def ask(config: Config, kind: RequestKind) -> int:
    """Reset the breaker, pause or resume: through the daemon, or here when none runs."""
    backend = open_state(config, keep=True, takeover=False)
    store, lease = backend.store, backend.lease
    now = time.time()
    request = new_request(kind, now)
    fence = lease.acquire()
    try:
        if fence is None:
            print(f"a running vpnwatch ({lease.holder()}) leads: asking it")
            store.submit(request)
            answered = wait_answer(store, request, answer_timeout(config))
            if answered is None:
                print("vpnwatch: no answer in time; the request was withdrawn", file=sys.stderr)
                return EXIT_FAILED
            print(f"{answered.what}: {answered.status}: {answered.answer}")
            return EXIT_OK if answered.status is RequestStatus.DONE else EXIT_FAILED
        mode = Mode.of(config.heal.dry_run)
        stored = store.read(mode)
        if stored.problems:
            for p in stored.problems:
                print(f"vpnwatch: state unreadable: {p.file}: {p.why}", file=sys.stderr)
            print("vpnwatch: repair it first (vpnwatch state check)", file=sys.stderr)
            return EXIT_FAILED
        switch = config.heal.paused or config.pause_file.exists()
        guards, paused, answers, _ = take_requests(
            stored.memory.guards, stored.memory.paused, [request], mode, switch
        )
        store.submit(request)  # kept, answered, for `vpnwatch requests` and the audit
        store.save_memory(mode, replace(stored.memory, guards=guards, paused=paused), fence=fence)
        (answer,) = answers
        store.answer_request(answer, now, fence=fence)
        store.audit(
            {"time": round(now, 3), "request": request.request_id, "kind": str(kind),
             "by": request.by, "result": answer.answer},
            fence=fence,
        )  # fmt: skip
        print(f"{request.what}: {answer.status}: {answer.answer}")
        return EXIT_OK
    finally:
        backend.close()


def list_requests(config: Config, as_json: bool) -> int:
    backend = state_store(config)
    try:
        requests, problems = backend.store.requests()
    finally:
        backend.close()
    if as_json:
        rows = [
            {
                "request_id": r.request_id,
                "kind": str(r.kind),
                "what": r.what,
                "status": str(r.status),
                "by": r.by,
                "submitted_at": r.submitted_at,
                "answered_at": r.answered_at,
                "answer": r.answer,
                "heal_id": r.heal_id,
            }
            for r in requests
        ]
        print(json.dumps({"requests": rows, "unreadable": [p.file for p in problems]}, indent=2))
    else:
        for r in requests:
            answer = f": {r.answer}" if r.answer else ""
            print(f"{r.request_id}  {r.what}  {r.status}  by {r.by}{answer}")
        if not requests:
            print("no operator requests")
        for p in problems:
            print(f"unreadable: {p.file}: {p.why}", file=sys.stderr)
    return EXIT_FAILED if problems else EXIT_OK
