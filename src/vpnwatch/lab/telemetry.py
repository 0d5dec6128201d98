"""Tunnel telemetry of the emulated AWS (moto has none): what VgwTelemetry says per tunnel.

Each tunnel's status comes from, in order: a manual override (`set_tunnel`, applied at once),
else a pluggable *source* (e.g. the simulated routers), whose verdict only shows after it has
held for `detection_delay` seconds (AWS notices a dead peer through DPD/BGP timers, not
instantly), else the tunnel keeps what it has. `LastStatusChange` moves only when the
status changes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from vpnwatch.lab.safety import LabError

Status = Literal["UP", "DOWN"]
DOWN_MESSAGE = "IPSEC IS DOWN"
_log = logging.getLogger("vpnwatch.lab.telemetry")


@dataclass(frozen=True)
class TunnelState:
    """A tunnel's state as a source or an override sees it."""

    status: Status
    accepted_route_count: int | None = None  # None → 1 when UP, 0 when DOWN
    status_message: str | None = None  # None → "" when UP, "IPSEC IS DOWN" when DOWN

    def __post_init__(self) -> None:
        if self.status not in ("UP", "DOWN"):
            raise LabError(f"tunnel status must be UP or DOWN, not {self.status!r}")

    @classmethod
    def up(cls, accepted_route_count: int = 1) -> TunnelState:
        return cls("UP", accepted_route_count)

    @classmethod
    def down(cls, message: str = DOWN_MESSAGE) -> TunnelState:
        return cls("DOWN", 0, message)

    @property
    def routes(self) -> int:
        if self.accepted_route_count is not None:
            return self.accepted_route_count
        return 1 if self.status == "UP" else 0

    @property
    def message(self) -> str:
        if self.status_message is not None:
            return self.status_message
        return "" if self.status == "UP" else DOWN_MESSAGE


@dataclass(frozen=True)
class TunnelRef:
    """Which tunnel a telemetry source is asked about."""

    region: str
    vpn_connection_id: str
    outside_ip: str  # the AWS end (VgwTelemetry.OutsideIpAddress)
    customer_gateway_id: str
    customer_gateway_ip: str  # the router's EIP
    inside_cidr: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.vpn_connection_id, self.outside_ip)


TelemetrySource = Callable[[TunnelRef], TunnelState | None]


@dataclass(frozen=True)
class TunnelRecord:
    """What DescribeVpnConnections reports for one tunnel, plus why."""

    ref: TunnelRef
    status: Status
    accepted_route_count: int
    status_message: str
    last_status_change: datetime
    overridden: bool = False
    pending: tuple[TunnelState, float] | None = field(default=None, compare=False)

    def vgw_telemetry(self) -> dict[str, Any]:
        return {
            "OutsideIpAddress": self.ref.outside_ip,
            "Status": self.status,
            "LastStatusChange": self.last_status_change,
            "StatusMessage": self.status_message,
            "AcceptedRouteCount": self.accepted_route_count,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "vpn_connection_id": self.ref.vpn_connection_id,
            "outside_ip": self.ref.outside_ip,
            "customer_gateway_ip": self.ref.customer_gateway_ip,
            "inside_cidr": self.ref.inside_cidr,
            "status": self.status,
            "status_message": self.status_message,
            "accepted_route_count": self.accepted_route_count,
            "last_status_change": self.last_status_change.isoformat(),
            "override": self.overridden,
        }


def show(record: TunnelRecord, state: TunnelState, wall: datetime) -> TunnelRecord:
    """The record showing `state`; LastStatusChange moves only with the status."""
    changed = state.status != record.status
    return replace(
        record,
        status=state.status,
        accepted_route_count=state.routes,
        status_message=state.message,
        last_status_change=wall if changed else record.last_status_change,
        pending=None,
    )


def next_record(
    record: TunnelRecord,
    override: TunnelState | None,
    observed: TunnelState | None,
    now: float,
    wall: datetime,
    detection_delay: float,
) -> TunnelRecord:
    """Pure step: the record after one look at the override and the source."""
    if override is not None:
        return replace(show(record, override, wall), overridden=True)
    record = replace(record, overridden=False)
    if observed is None:
        return replace(record, pending=None)
    if observed.status == record.status:
        return show(record, observed, wall)
    held = record.pending is not None and record.pending[0].status == observed.status
    since = record.pending[1] if held and record.pending is not None else now
    if now - since >= detection_delay:
        return show(record, observed, wall)
    return replace(record, pending=(observed, since))


class TelemetryBook:
    """Every known tunnel's record. Thread-safe (request threads and the refresher)."""

    def __init__(
        self,
        monotonic: Callable[[], float],
        wall_clock: Callable[[], datetime],
        detection_delay: float = 3.0,
    ) -> None:
        self._monotonic = monotonic
        self._wall = wall_clock
        self._lock = threading.RLock()
        self._records: dict[tuple[str, str], TunnelRecord] = {}
        self._overrides: dict[tuple[str, str], TunnelState] = {}
        self._source: TelemetrySource | None = None
        self.detection_delay = detection_delay

    def register(self, ref: TunnelRef) -> TunnelRecord:
        """A new tunnel starts UP with one accepted route."""
        with self._lock:
            up = TunnelState.up()
            record = TunnelRecord(ref, "UP", up.routes, up.message, self._wall())
            self._records[ref.key] = record
            self._overrides.pop(ref.key, None)
            return record

    def update_ref(self, ref: TunnelRef) -> None:
        """The tunnel changed (e.g. its inside CIDR); its status stays as it is."""
        with self._lock:
            record = self._records.get(ref.key)
            if record is not None:
                self._records[ref.key] = replace(record, ref=ref)

    def set_source(self, source: TelemetrySource | None, detection_delay: float | None) -> None:
        with self._lock:
            self._source = source
            if detection_delay is not None:
                if detection_delay < 0:
                    raise LabError("detection_delay must not be negative")
                self.detection_delay = detection_delay

    @property
    def has_source(self) -> bool:
        return self._source is not None

    def set_override(self, vpn_id: str, outside_ip: str, state: TunnelState | None) -> TunnelRecord:
        """Force a tunnel's state now (None hands it back to the source)."""
        key = (vpn_id, outside_ip)
        with self._lock:
            if key not in self._records:
                raise LabError(f"no tunnel {outside_ip} in VPN connection {vpn_id}")
            if state is None:
                self._overrides.pop(key, None)
            else:
                self._overrides[key] = state
            return self._step(key)

    def refresh(self, keys: list[tuple[str, str]] | None = None) -> list[TunnelRecord]:
        """Re-derive the given (or all) tunnels; returns their records."""
        with self._lock:
            chosen = (
                list(self._records) if keys is None else [k for k in keys if k in self._records]
            )
            return [self._step(key) for key in chosen]

    def records(self, vpn_id: str | None = None) -> list[TunnelRecord]:
        with self._lock:
            return [r for r in self._records.values() if vpn_id in (None, r.ref.vpn_connection_id)]

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
            self._overrides.clear()

    def _step(self, key: tuple[str, str]) -> TunnelRecord:
        record = self._records[key]
        override = self._overrides.get(key)
        observed = self._observe(record.ref) if override is None else None
        updated = next_record(
            record, override, observed, self._monotonic(), self._wall(), self.detection_delay
        )
        self._records[key] = updated
        return updated

    def _observe(self, ref: TunnelRef) -> TunnelState | None:
        if self._source is None:
            return None
        try:
            return self._source(ref)
        except Exception:  # a broken source must not take the emulated AWS down
            _log.exception("telemetry source failed for %s %s", *ref.key)
            return None
