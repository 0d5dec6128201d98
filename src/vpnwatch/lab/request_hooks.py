"""What the emulated AWS runs around moto for each request: the request gate (the IAM policy
of `lab serve --iam-policy`, any service), hooks before moto per EC2 action ("*": all), the
DryRun answer, hooks after moto, and the listeners of ModifyVpnTunnelOptions changes."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from vpnwatch.lab.faults import AfterHook, AwsRequest, BeforeHook, CannedAnswer, InjectedError
from vpnwatch.lab.tunnel_modify import Modified

_log = logging.getLogger("vpnwatch.lab.aws")
DRY_RUN_OK = "Request would have succeeded, but DryRun flag is set."


class RequestHooks:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._before: dict[str, list[BeforeHook]] = {}
        self._after: dict[str, list[AfterHook]] = {}
        self._tunnel_listeners: list[Callable[[Modified], None]] = []
        self.gate: BeforeHook | None = None  # may refuse any service's request

    def add_before(self, action: str, hook: BeforeHook) -> None:
        with self._lock:
            self._before.setdefault(action, []).append(hook)

    def add_after(self, action: str, hook: AfterHook) -> None:
        with self._lock:
            self._after.setdefault(action, []).append(hook)

    def add_tunnel_listener(self, listener: Callable[[Modified], None]) -> None:
        with self._lock:
            self._tunnel_listeners.append(listener)

    def after(self, action: str | None) -> list[AfterHook]:
        with self._lock:
            return list(self._after.get(action or "", ()))

    def before_moto(self, request: AwsRequest) -> InjectedError | CannedAnswer | None:
        """The before hooks of an EC2 request, then its DryRun answer: EC2 answers every
        authorized, valid DryRun so, and moto ignores DryRun on some actions (ReplaceRoute
        would really replace the route), so a DryRun never reaches moto."""
        with self._lock:
            hooks: list[BeforeHook] = [*self._before.get("*", [])]
            hooks += self._before.get(request.action or "", [])
        for hook in hooks:
            refusal = hook(request)
            if refusal is not None:
                return refusal
        if request.params.get("DryRun", "").lower() == "true":
            return InjectedError("DryRunOperation", 412, DRY_RUN_OK)
        return None

    def tunnel_modified(self, change: Modified) -> None:
        with self._lock:
            listeners = list(self._tunnel_listeners)
        for listener in listeners:
            try:
                listener(change)
            except Exception:  # the change is made; a broken listener must not hide it
                _log.exception("tunnel listener failed for %s", change.vpn_connection_id)
