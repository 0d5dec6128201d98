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

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

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
from vpnwatch.lab.lab_server import LabServer, claim_process, release_process
from vpnwatch.lab.request_hooks import RequestHooks
from vpnwatch.lab.safety import (
    DEFAULT_REGION,
    LabError,
    ensure_dummy_credentials,
    require_loopback_host,
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


def _utcnow() -> datetime:
    return datetime.now(UTC)


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
        self._hooks = RequestHooks()
        self._control = ControlApi()
        self._moto: Any = None
        self._server: LabServer | None = None
        self._endpoint: str | None = None
        from vpnwatch.lab.control_routes import install_routes

        install_routes(self)

    # ------------------------------------------------------------ lifecycle

    def start(self) -> str:
        """Serve on host:port (0 = any free port); returns the endpoint URL."""
        with self._life:
            if self._endpoint is not None:
                return self._endpoint
            claim_process(self)
            try:
                ensure_dummy_credentials(region=self.region)
                self._moto = DomainDispatcherApplication(create_backend_app)
                self._server = LabServer(self.host, self.port, self._wsgi)
                if self.reset_on_start:
                    with self._lock:
                        self._reset_state()
            except BaseException:
                release_process(self)
                raise
            self._endpoint = self._server.start()
            if self.refresh_interval is not None:
                self._server.spawn("vpnwatch-lab-telemetry", self._refresh_loop)
            return self._endpoint

    def stop(self) -> None:
        """Stop serving and join the threads. Safe to call twice."""
        with self._life:
            if self._endpoint is None or self._server is None:
                return
            self._server.stop()
            self._endpoint = None
            release_process(self)

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

    def _refresh_loop(self) -> None:
        interval = self.refresh_interval or 0.5
        assert self._server is not None
        while not self._server.stopping.wait(interval):
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
        self._hooks.add_before(action, hook)

    def set_request_gate(self, gate: BeforeHook | None) -> None:
        """Run `gate(request)` on every AWS request (any service) before moto; it may refuse
        it (the IAM policy of `lab serve --iam-policy`)."""
        self._hooks.gate = gate

    def add_tunnel_listener(self, listener: Callable[[Modified], None]) -> None:
        """Call `listener(change)` after ModifyVpnTunnelOptions changed a tunnel."""
        self._hooks.add_tunnel_listener(listener)

    def add_after_hook(self, action: str, hook: AfterHook) -> None:
        """Run `hook(call)` after moto answered `action` (any status); bytes replace the body."""
        self._hooks.add_after(action, hook)

    # ------------------------------------------------------------ WSGI

    def _wsgi(self, environ: WsgiEnviron, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").startswith("/_lab/"):
            return self._control(environ, start_response)
        request = read_request(environ)
        region = request.region or self.region
        injected = apply_fault(self._faults, request, environ, start_response)
        if injected is not None:
            return injected
        gate = self._hooks.gate
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
        return self._hooks.before_moto(request)

    def _modify_tunnel(self, request: AwsRequest, region: str) -> InjectedError | CannedAnswer:
        with self._lock:
            self._sync_region(region)
            answer, change = modify_tunnel(request, region, self._pool, self._telemetry)
        if change is not None:
            self._hooks.tunnel_modified(change)
        return answer

    def _call_moto(
        self, request: AwsRequest, environ: WsgiEnviron, start_response: StartResponse
    ) -> Iterable[bytes]:
        hooks = self._hooks.after(request.action)
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
