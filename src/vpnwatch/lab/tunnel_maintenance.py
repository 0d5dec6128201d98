"""AWS's tunnel endpoint maintenance in the emulated AWS (moto has none of it): issue 12.

Per tunnel the lab keeps: lifecycle control (ModifyVpnTunnelOptions
EnableTunnelLifecycleControl), pending maintenance and the date after which AWS applies it
itself, the last maintenance applied, and a replacement in progress. It answers
GetVpnTunnelReplacementStatus and ReplaceVpnTunnel with the real response shapes (moto's
serializer from botocore's model), and applies maintenance as AWS does (docs/architecture.md,
"the emulated world", cites each behaviour):

- one tunnel of a connection at a time;
- the tunnel goes DOWN while its new endpoint is provisioned (`replace_seconds`);
- then AWS initiates IKE only for IKEv2 with startup action `start`; with IKEv1 or startup
  action `add` the tunnel stays down until the customer gateway initiates;
- pending maintenance and its auto-apply date are reported with lifecycle control on; past
  that date AWS applies it itself.

`Maintenance` is what the emulated AWS holds; `MaintenanceBook` the state under its lock.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from vpnwatch.lab import moto_state
from vpnwatch.lab.faults import AwsRequest, CannedAnswer, InjectedError
from vpnwatch.lab.safety import LabError
from vpnwatch.lab.vpn_details import TunnelPlan

_log = logging.getLogger("vpnwatch.lab.aws")
GET_STATUS = "GetVpnTunnelReplacementStatus"
REPLACE = "ReplaceVpnTunnel"
PENDING_WORD = "Available"  # what the lab names pending maintenance (the API names none)
DEFAULT_AUTO_APPLY = timedelta(days=14)
Key = tuple[str, str]


@dataclass(frozen=True)
class TunnelUpkeep:
    pending: bool = False
    auto_apply_after: datetime | None = None
    last_applied: datetime | None = None
    replacing_until: float | None = None  # monotonic


@dataclass(frozen=True)
class EndpointReplaced:
    """What the world tells the router facing the tunnel."""

    region: str
    vpn_connection_id: str
    outside_ip: str
    down_for: float
    aws_initiates: bool
    maintenance: bool  # maintenance applied (LastMaintenanceApplied moved)


@dataclass
class MaintenanceBook:
    monotonic: Callable[[], float]
    wall: Callable[[], datetime]
    replace_seconds: float = 5.0
    _tunnels: dict[Key, TunnelUpkeep] = field(default_factory=dict)
    _regions: dict[Key, str] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def upkeep(self, key: Key) -> TunnelUpkeep:
        with self._lock:
            return self._tunnels.get(key, TunnelUpkeep())

    def clear(self) -> None:
        with self._lock:
            self._tunnels.clear()
            self._regions.clear()

    def schedule(self, region: str, key: Key, auto_apply_in: timedelta) -> TunnelUpkeep:
        """AWS has maintenance for this tunnel, applied by itself after `auto_apply_in`."""
        _tunnel(region, key)
        with self._lock:
            upkeep = replace(
                self.upkeep(key), pending=True, auto_apply_after=self.wall() + auto_apply_in
            )
            self._tunnels[key], self._regions[key] = upkeep, region
            return upkeep

    def replace_endpoint(
        self,
        region: str,
        key: Key,
        *,
        maintenance: bool,
        ikev1: bool = False,
        down_for: float | None = None,
    ) -> EndpointReplaced:
        """Replace the endpoint now (LabError while another tunnel of the connection is being
        replaced). `maintenance`: it applies the pending maintenance (or AWS's own)."""
        plan = _tunnel(region, key)
        now = self.monotonic()
        down_for = self.replace_seconds if down_for is None else down_for
        with self._lock:
            for other, upkeep in self._tunnels.items():
                busy = upkeep.replacing_until is not None and upkeep.replacing_until > now
                if other[0] == key[0] and other != key and busy:
                    raise LabError(
                        f"AWS replaces one tunnel of {key[0]} at a time: {other[1]} is being "
                        "replaced"
                    )
            upkeep = replace(self.upkeep(key), replacing_until=now + down_for)
            if maintenance:
                upkeep = replace(
                    upkeep, pending=False, auto_apply_after=None, last_applied=self.wall()
                )
            self._tunnels[key], self._regions[key] = upkeep, region
        initiates = plan.startup_action == "start" and not ikev1
        return EndpointReplaced(region, *key, down_for, initiates, maintenance)

    def due(self) -> list[tuple[str, Key]]:
        """Pending maintenance past its auto-apply date: AWS applies it itself now."""
        wall = self.wall()
        with self._lock:
            return [
                (self._regions[k], k)
                for k, u in sorted(self._tunnels.items())
                if u.pending and u.auto_apply_after is not None and u.auto_apply_after <= wall
            ]

    # ------------------------------------------------------------ the API

    def answer(
        self, request: AwsRequest, region: str
    ) -> tuple[InjectedError | CannedAnswer, EndpointReplaced | None]:
        params = request.params
        vpn_id = params.get("VpnConnectionId")
        outside = params.get("VpnTunnelOutsideIpAddress")
        if not vpn_id or not outside:
            missing = "VpnConnectionId" if not vpn_id else "VpnTunnelOutsideIpAddress"
            return InjectedError(
                "MissingParameter", 400, f"The request must contain {missing}"
            ), None
        try:
            plan = _tunnel(region, (vpn_id, outside))
        except LabError as exc:
            code = "InvalidVpnConnectionID.NotFound" if "does not exist" in str(exc) else None
            return InjectedError(code or "InvalidParameterValue", 400, str(exc)), None
        if params.get("DryRun", "").lower() == "true":
            message = "Request would have succeeded, but DryRun flag is set."
            return InjectedError("DryRunOperation", 412, message), None
        if request.action == GET_STATUS:
            return CannedAnswer(self._status(region, vpn_id, outside, plan)), None
        apply = params.get("ApplyPendingMaintenance", "").lower() == "true"
        try:
            with self._lock:
                pending = self.upkeep((vpn_id, outside)).pending
                done = self.replace_endpoint(
                    region, (vpn_id, outside), maintenance=apply and pending
                )
        except LabError as exc:
            return InjectedError("IncorrectState", 400, str(exc)), None
        return CannedAnswer(moto_state.ec2_response(REPLACE, {"Return": True})), done

    def _status(self, region: str, vpn_id: str, outside: str, plan: TunnelPlan) -> bytes:
        upkeep = self.upkeep((vpn_id, outside))
        details: dict[str, Any] = {}
        if plan.lifecycle_control and upkeep.pending:  # visible with lifecycle control only
            details["PendingMaintenance"] = PENDING_WORD
            details["MaintenanceAutoAppliedAfter"] = upkeep.auto_apply_after
        if upkeep.last_applied is not None:
            details["LastMaintenanceApplied"] = upkeep.last_applied
        result = {
            "VpnConnectionId": vpn_id,
            **moto_state.connection_gateways(region, vpn_id),
            "VpnTunnelOutsideIpAddress": outside,
            "MaintenanceDetails": details,
        }
        return moto_state.ec2_response(GET_STATUS, result)

    def view(self, key: Key, lifecycle_control: bool) -> dict[str, Any]:
        upkeep = self.upkeep(key)
        return {
            "vpn_connection_id": key[0],
            "outside_ip": key[1],
            "lifecycle_control": lifecycle_control,
            "pending": upkeep.pending,
            "auto_apply_after": _iso(upkeep.auto_apply_after),
            "last_applied": _iso(upkeep.last_applied),
            "replacing": upkeep.replacing_until is not None
            and upkeep.replacing_until > self.monotonic(),
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _tunnel(region: str, key: Key) -> TunnelPlan:
    tunnels = moto_state.lab_tunnels(region, key[0])
    if tunnels is None:
        raise LabError(f"The vpnConnection ID '{key[0]}' does not exist")
    plan = next((t for t in tunnels if t.outside_ip == key[1]), None)
    if plan is None:
        raise LabError(f"No tunnel with outside IP address {key[1]} in {key[0]}")
    return plan


class Maintenance:
    """The emulated AWS's side of maintenance: the book, who hears of replacements (the
    world: the router facing the tunnel), and the lab's controls."""

    def __init__(
        self,
        lock: threading.RLock,
        sync: Callable[[], None],
        regions: Callable[[], Iterable[str]],
        monotonic: Callable[[], float],
        wall: Callable[[], datetime],
    ) -> None:
        self._lock = lock  # the emulated AWS's
        self._sync = sync
        self._regions = regions
        self.book = MaintenanceBook(monotonic, wall)
        self._listeners: list[Callable[[EndpointReplaced], None]] = []

    def clear(self) -> None:
        self.book.clear()

    def add_listener(self, listener: Callable[[EndpointReplaced], None]) -> None:
        with self._lock:
            self._listeners.append(listener)

    def answer(self, request: AwsRequest, region: str) -> InjectedError | CannedAnswer:
        """GetVpnTunnelReplacementStatus and ReplaceVpnTunnel."""
        with self._lock:
            self._sync()
            answer, done = self.book.answer(request, region)
        if done is not None:
            self._tell(done)
        return answer

    def region_of(self, vpn_id: str) -> str:
        with self._lock:
            self._sync()
            for region in self._regions():
                if moto_state.lab_tunnels(region, vpn_id) is not None:
                    return region
        raise LabError(f"The vpnConnection ID '{vpn_id}' does not exist")

    def schedule(self, vpn_id: str, outside_ip: str, auto_apply_in: float) -> dict[str, Any]:
        """AWS has maintenance pending (`vpnwatch lab maintenance VPN IP pending`)."""
        region = self.region_of(vpn_id)
        with self._lock:
            self.book.schedule(region, (vpn_id, outside_ip), timedelta(seconds=auto_apply_in))
        return self.view(vpn_id, outside_ip)

    def apply(
        self, vpn_id: str, outside_ip: str, *, ikev1: bool = False, down_for: float | None = None
    ) -> dict[str, Any]:
        """AWS applies maintenance now (`vpnwatch lab maintenance VPN IP apply [--ikev1]`)."""
        self._replace(self.region_of(vpn_id), (vpn_id, outside_ip), ikev1, down_for)
        return self.view(vpn_id, outside_ip)

    def apply_due(self) -> None:
        for region, key in self.book.due():
            try:
                self._replace(region, key, False, None)
            except LabError as exc:  # another tunnel of the connection is being replaced
                _log.info("auto-apply of %s %s waits: %s", *key, exc)

    def view(self, vpn_id: str, outside_ip: str) -> dict[str, Any]:
        region = self.region_of(vpn_id)
        with self._lock:
            plan = _tunnel(region, (vpn_id, outside_ip))
            return self.book.view((vpn_id, outside_ip), plan.lifecycle_control)

    def _replace(self, region: str, key: Key, ikev1: bool, down_for: float | None) -> None:
        with self._lock:
            done = self.book.replace_endpoint(
                region, key, maintenance=True, ikev1=ikev1, down_for=down_for
            )
        self._tell(done)

    def _tell(self, event: EndpointReplaced) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception:  # the replacement happened; a broken listener must not hide it
                _log.exception("endpoint listener failed for %s", event.vpn_connection_id)
