"""AWS's tunnel endpoint maintenance API (issue 12), over the AWS adapter's bounded calls.

GetVpnTunnelReplacementStatus answers per tunnel: MaintenanceDetails {PendingMaintenance
(a string), MaintenanceAutoAppliedAfter, LastMaintenanceApplied}. The API reference types
PendingMaintenance as a plain string and names no values; vpnwatch reads a missing or empty
value, or "None", as nothing pending and anything else as pending. ReplaceVpnTunnel with
ApplyPendingMaintenance applies it. moto implements neither: the lab answers both.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from vpnwatch.adapters.aws import AwsAccessDenied, AwsApiError, AwsClient
from vpnwatch.errors import ParseError
from vpnwatch.model import TunnelMaintenance

# AWS's words for "this account or region cannot use the feature": turn it off, once.
FEATURE_OFF_CODES = frozenset({"UnsupportedOperation", "InvalidAction", "OptInRequired"})
_NOTHING_PENDING = frozenset({"", "none", "none available"})


class FeatureUnavailable(Exception):
    """The maintenance API is not usable here (unsupported, or not allowed by IAM)."""


def _epoch(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ParseError(f"GetVpnTunnelReplacementStatus: {what} is not a timestamp")
    return value.timestamp()


def parse_replacement_status(
    answer: Mapping[str, Any], vpn_id: str, outside_ip: str, now: float
) -> TunnelMaintenance:
    """The answer for one tunnel; ParseError when it is not that tunnel's or not readable."""
    said = answer.get("VpnConnectionId"), answer.get("VpnTunnelOutsideIpAddress")
    if said != (vpn_id, outside_ip):
        raise ParseError(f"GetVpnTunnelReplacementStatus answered for another tunnel: {said}")
    details = answer.get("MaintenanceDetails") or {}
    if not isinstance(details, Mapping):
        raise ParseError("GetVpnTunnelReplacementStatus: MaintenanceDetails is not a structure")
    pending = details.get("PendingMaintenance")
    if pending is not None and not isinstance(pending, str):
        raise ParseError("GetVpnTunnelReplacementStatus: PendingMaintenance is not a string")
    return TunnelMaintenance(
        vpn_connection_id=vpn_id,
        outside_ip=outside_ip,
        pending=(pending or "").strip().lower() not in _NOTHING_PENDING,
        auto_apply_after=_epoch(
            details.get("MaintenanceAutoAppliedAfter"), "MaintenanceAutoAppliedAfter"
        ),
        last_applied=_epoch(details.get("LastMaintenanceApplied"), "LastMaintenanceApplied"),
        read_at=now,
    )


class VpnMaintenanceApi:
    def __init__(self, aws: AwsClient) -> None:
        self._aws = aws

    async def replacement_status(
        self, region: str, vpn_id: str, outside_ip: str, now: float
    ) -> TunnelMaintenance:
        """Raises FeatureUnavailable when the API is off for us, AwsCallFailed / AwsApiError
        / ParseError for this one tunnel."""
        try:
            answer = await self._aws.call(
                "ec2",
                region,
                "get_vpn_tunnel_replacement_status",
                VpnConnectionId=vpn_id,
                VpnTunnelOutsideIpAddress=outside_ip,
            )
        except AwsAccessDenied as exc:
            raise FeatureUnavailable(str(exc)) from None
        except AwsApiError as exc:
            if exc.code in FEATURE_OFF_CODES:
                raise FeatureUnavailable(str(exc)) from None
            raise
        return parse_replacement_status(answer, vpn_id, outside_ip, now)

    async def apply_pending(self, region: str, vpn_id: str, outside_ip: str) -> bool:
        answer = await self._aws.call(
            "ec2",
            region,
            "replace_vpn_tunnel",
            VpnConnectionId=vpn_id,
            VpnTunnelOutsideIpAddress=outside_ip,
            ApplyPendingMaintenance=True,
        )
        return bool(answer.get("Return", False))
