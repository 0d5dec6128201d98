"""EmulatedAws: moto's server on loopback plus what moto lacks.

One werkzeug server in a daemon thread answers three kinds of requests:
- `/_lab/...`: the control API (JSON), see `vpnwatch.lab.control_routes`;
- AWS API calls: fault rules first (`vpnwatch.lab.faults`), then moto, with the lab filling
  in VPN tunnel details and VgwTelemetry and keeping source/dest check in sync;
- `/moto-api/...`: moto's own.

moto keeps its state in process-wide globals, so only one EmulatedAws runs per process.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self, cast

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

from vpnwatch.lab import moto_state
from vpnwatch.lab.control import ControlApi, ControlHandler
from vpnwatch.lab.faults import (
    AfterHook,
    ApiCall,
    AwsRequest,
    BeforeHook,
    CannedAnswer,
    FaultInjector,
    FaultRule,
    InjectedError,
    StartResponse,
    WsgiEnviron,
    apply_fault,
    call_and_capture,
    read_request,
    refuse,
    send,
)
from vpnwatch.lab.safety import (
    DEFAULT_REGION,
    LabError,
    ensure_dummy_credentials,
    require_loopback_host,
    url_for,
)
from vpnwatch.lab.telemetry import (
    Status,
    TelemetryBook,
    TelemetrySource,
    TunnelRecord,
    TunnelState,
)
from vpnwatch.lab.tunnel_modify import ACTION as MODIFY_TUNNEL
from vpnwatch.lab.tunnel_modify import Modified, modify_tunnel
from vpnwatch.lab.vpn_details import AddressPool, RequestedTunnel, requested_tunnels

_log = logging.getLogger("vpnwatch.lab.aws")
_VPN_ID = re.compile(rb"<vpnConnectionId>\s*(vpn-[0-9a-f]+)\s*</vpnConnectionId>")
_SYNC_AFTER = ("ModifyInstanceAttribute", "ModifyNetworkInterfaceAttribute")

_active_lock = threading.Lock()
_active: EmulatedAws | None = None


def _utcnow() -> datetime:
    return datetime.now(UTC)


class _QuietHandler(MotoRequestHandler):
    """moto's handler without one access-log line per request."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


class EmulatedAws:
    """moto + fault rules + tunnel telemetry + control API, on one loopback port."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        region: str = DEFAULT_REGION,
        detection_delay: float = 3.0,
        refresh_interval: float | None = 0.5,
        reset_on_start: bool = True,
        monotonic: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.host = require_loopback_host(host)
        self.port = port
        self.region = region
        self.refresh_interval = refresh_interval
        self.reset_on_start = reset_on_start
        self._lock = threading.RLock()  # the lab's data (telemetry, pool, hooks, regions)
        self._life = threading.Lock()  # start/stop; never held while waiting on _lock users
        self._faults = FaultInjector()
        self._telemetry = TelemetryBook(monotonic, wall_clock, detection_delay)
        self._pool = AddressPool()
        self._regions: set[str] = {region}
        self._before: dict[str, list[BeforeHook]] = {}
        self._gate: BeforeHook | None = None  # IAM: may refuse any service's request
        self._after: dict[str, list[AfterHook]] = {}
        self._tunnel_listeners: list[Callable[[Modified], None]] = []
        self._control = ControlApi()
        self._moto: Any = None
        self._server: Any = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._endpoint: str | None = None
        from vpnwatch.lab.control_routes import install_routes

        install_routes(self)

    # ------------------------------------------------------------ lifecycle

    def start(self) -> str:
        """Serve on host:port (0 = any free port); returns the endpoint URL."""
        global _active
        with self._life:
            if self._endpoint is not None:
                return self._endpoint
            with _active_lock:
                if _active is not None:
                    raise LabError("an EmulatedAws already runs in this process (moto is global)")
                _active = self
            try:
                ensure_dummy_credentials(region=self.region)
                self._moto = DomainDispatcherApplication(create_backend_app)
                self._server = make_server(
                    self.host, self.port, self._wsgi, threaded=True, request_handler=_QuietHandler
                )
                if self.reset_on_start:
                    with self._lock:
                        self._reset_state()
            except BaseException:
                with _active_lock:
                    _active = None
                raise
            self._stopping.clear()
            self._endpoint = url_for(self.host, self._server.server_port)
            self._spawn("vpnwatch-lab-aws", lambda: self._server.serve_forever(poll_interval=0.1))
            if self.refresh_interval is not None:
                self._spawn("vpnwatch-lab-telemetry", self._refresh_loop)
            return self._endpoint

    def stop(self) -> None:
        """Stop serving and join the threads. Safe to call twice."""
        global _active
        with self._life:
            if self._endpoint is None:
                return
            self._stopping.set()
            self._server.shutdown()
            for thread in self._threads:
                thread.join(timeout=10)
            self._server.server_close()
            self._threads.clear()
            self._endpoint = None
            with _active_lock:
                if _active is self:
                    _active = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def endpoint_url(self) -> str:
        if self._endpoint is None:
            raise LabError("the emulated AWS is not running")
        return self._endpoint

    @property
    def running(self) -> bool:
        return self._endpoint is not None

    def reset(self) -> None:
        """Empty moto (like POST /moto-api/reset) and forget faults and tunnels; hooks stay."""
        with self._lock:
            self._reset_state()

    def _reset_state(self) -> None:
        from moto.moto_api._internal.models import moto_api_backend

        moto_api_backend.reset()
        self._faults.clear()
        self._telemetry.clear()
        self._pool = AddressPool()
        self._regions = {self.region}

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _refresh_loop(self) -> None:
        interval = self.refresh_interval or 0.5
        while not self._stopping.wait(interval):
            if self._telemetry.has_source:
                try:
                    self.refresh_telemetry()
                except Exception:  # keep refreshing; the next round may work
                    _log.exception("telemetry refresh failed")

    # ------------------------------------------------------------ faults

    def add_fault(
        self,
        action: str,
        code: str | None = None,
        status: int | None = None,
        count: int = 1,
        delay: float = 0.0,
    ) -> FaultRule:
        """Fail (or delay) the next `count` calls of `action` (-1 = until cleared)."""
        return self._faults.add(action, code, status, count, delay)

    def clear_faults(self, action: str | None = None) -> int:
        return self._faults.clear(action)

    def faults(self) -> list[FaultRule]:
        return self._faults.rules()

    # ------------------------------------------------------------ telemetry

    def set_telemetry_source(
        self, source: TelemetrySource | None, *, detection_delay: float | None = None
    ) -> None:
        """Derive tunnel status from `source(ref)`; a changed verdict shows after the delay."""
        self._telemetry.set_source(source, detection_delay)

    def set_tunnel(
        self, vpn_id: str, outside_ip: str, status: str | TunnelState | None
    ) -> TunnelRecord:
        """Force a tunnel UP or DOWN now; None hands it back to the source."""
        state = TunnelState(cast(Status, status.upper())) if isinstance(status, str) else status
        with self._lock:
            self._sync_regions()
            record = self._telemetry.set_override(vpn_id, outside_ip, state)
            moto_state.write_telemetry(record.ref.region, self._telemetry.records(vpn_id))
            return record

    def refresh_telemetry(self) -> list[TunnelRecord]:
        """Derive every tunnel's status now and write it into moto."""
        with self._lock:
            self._sync_regions()
            return self._telemetry.records()

    def tunnels(self, vpn_id: str | None = None) -> list[TunnelRecord]:
        return [r for r in self.refresh_telemetry() if vpn_id in (None, r.ref.vpn_connection_id)]

    def _sync_regions(self) -> None:
        for region in sorted(self._regions):
            self._sync_region(region)

    def _sync_region(self, region: str) -> None:
        """Fill in new connections, re-derive telemetry and write it back. Caller holds the lock."""
        for vpn_id in moto_state.undecorated_connection_ids(region):
            self._decorate(region, vpn_id, (), static_routes_only=False)
        keys = [r.ref.key for r in self._telemetry.records() if r.ref.region == region]
        moto_state.write_telemetry(region, self._telemetry.refresh(keys))

    def _decorate(
        self,
        region: str,
        vpn_id: str,
        requested: tuple[RequestedTunnel, ...],
        *,
        static_routes_only: bool,
    ) -> None:
        plans = self._pool.plan(requested)
        for ref in moto_state.decorate_connection(region, vpn_id, plans, static_routes_only):
            self._telemetry.register(ref)

    # ------------------------------------------------------------ world truth

    def state(self) -> dict[str, Any]:
        """The truth as the lab sees it: instances, VPN connections with tunnels, faults."""
        with self._lock:
            self._sync_regions()
            records = self._telemetry.records()
            regions = sorted(self._regions)
            return {
                "endpoint_url": self._endpoint,
                "regions": regions,
                "instances": [v for r in regions for v in moto_state.instance_views(r)],
                "vpn_connections": [
                    v for r in regions for v in moto_state.connection_views(r, records)
                ],
                "faults": [rule.to_json() for rule in self._faults.rules()],
            }

    def eip_holder(self, public_ip: str, region: str | None = None) -> str | None:
        """The instance id the Elastic IP is associated with now (None if unassociated)."""
        return moto_state.eip_holder(region or self.region, public_ip)

    # ------------------------------------------------------------ extension points

    def add_control_route(self, method: str, path: str, handler: ControlHandler) -> None:
        """Serve `handler(request) -> JSON` at METHOD /_lab/...; replaces an existing route."""
        self._control.add_route(method, path, handler)

    def add_before_hook(self, action: str, hook: BeforeHook) -> None:
        """Run `hook(request)` before moto sees EC2 `action` ("*": any). It may fail the call
        (InjectedError) or answer it itself (CannedAnswer)."""
        with self._lock:
            self._before.setdefault(action, []).append(hook)

    def set_request_gate(self, gate: BeforeHook | None) -> None:
        """Run `gate(request)` on every AWS request (any service) before moto; it may refuse
        it (the IAM policy of `lab serve --iam-policy`)."""
        self._gate = gate

    def add_tunnel_listener(self, listener: Callable[[Modified], None]) -> None:
        """Call `listener(change)` after ModifyVpnTunnelOptions changed a tunnel."""
        with self._lock:
            self._tunnel_listeners.append(listener)

    def add_after_hook(self, action: str, hook: AfterHook) -> None:
        """Run `hook(call)` after moto answered `action` (any status); bytes replace the body."""
        with self._lock:
            self._after.setdefault(action, []).append(hook)

    # ------------------------------------------------------------ WSGI

    def _wsgi(self, environ: WsgiEnviron, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").startswith("/_lab/"):
            return self._control(environ, start_response)
        request = read_request(environ)
        region = request.region or self.region
        injected = apply_fault(self._faults, request, environ, start_response)
        if injected is not None:
            return injected
        gate = self._gate
        refused = gate(request) if gate is not None else None
        if refused is not None:
            return refuse(request, environ, start_response, refused)
        if request.service != "ec2":
            return self._call_moto(request, environ, start_response)
        with self._lock:
            self._regions.add(region)
        refusal = self._before_ec2(request, region)
        if refusal is not None:
            return refuse(request, environ, start_response, refusal)
        return self._call_moto(request, environ, start_response)

    def _before_ec2(self, request: AwsRequest, region: str) -> InjectedError | CannedAnswer | None:
        if request.action == "DescribeVpnConnections":
            with self._lock:
                self._sync_region(region)
        elif request.action == MODIFY_TUNNEL:
            return self._modify_tunnel(request, region)
        elif request.action == "CreateVpnConnection":
            try:
                self._pool.check(requested_tunnels(request.params))
            except LabError as exc:
                return InjectedError("InvalidParameterValue", 400, str(exc))
        before: list[BeforeHook] = self._hooks(self._before, "*")
        before += self._hooks(self._before, request.action)
        for hook in before:
            refusal = hook(request)
            if refusal is not None:
                return refusal
        if request.params.get("DryRun", "").lower() == "true":
            # EC2 answers every authorized, valid DryRun so; moto ignores DryRun on some
            # actions (ReplaceRoute would really replace the route)
            message = "Request would have succeeded, but DryRun flag is set."
            return InjectedError("DryRunOperation", 412, message)
        return None

    def _modify_tunnel(self, request: AwsRequest, region: str) -> InjectedError | CannedAnswer:
        with self._lock:
            self._sync_region(region)
            answer, change = modify_tunnel(request, region, self._pool, self._telemetry)
            listeners = list(self._tunnel_listeners)
        if change is not None:
            for listener in listeners:
                try:
                    listener(change)
                except Exception:  # the change is made; a broken listener must not hide it
                    _log.exception("tunnel listener failed for %s", change.vpn_connection_id)
        return answer

    def _hooks(self, table: dict[str, list[Any]], action: str | None) -> list[Any]:
        with self._lock:
            return list(table.get(action or "", ()))

    def _call_moto(
        self, request: AwsRequest, environ: WsgiEnviron, start_response: StartResponse
    ) -> Iterable[bytes]:
        hooks: list[AfterHook] = self._hooks(self._after, request.action)
        if not hooks and request.action not in ("CreateVpnConnection", *_SYNC_AFTER):
            return self._moto(environ, start_response)  # type: ignore[no-any-return]
        call = call_and_capture(self._moto, request, environ)
        if request.service == "ec2" and call.status == 200:
            self._after_ec2(call, request.region or self.region)
        for hook in hooks:
            try:
                body = hook(call)
            except Exception:  # the call itself succeeded; a broken hook must not hide that
                _log.exception("after-hook for %s failed", request.action)
                continue
            if body is not None:
                call = replace(call, body=body)
        return send(call, start_response)

    def _after_ec2(self, call: ApiCall, region: str) -> None:
        params = dict(call.request.params)
        if call.request.action == "CreateVpnConnection":
            match = _VPN_ID.search(call.body)
            if match is None:
                return
            requested = requested_tunnels(params)
            static = params.get("Options.StaticRoutesOnly", "").lower() == "true"
            with self._lock:
                self._decorate(
                    region, match.group(1).decode(), requested, static_routes_only=static
                )
                self._sync_region(region)
        elif call.request.action in _SYNC_AFTER:
            with self._lock:
                moto_state.sync_source_dest_check(region, params)
