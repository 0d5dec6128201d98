"""ModifyVpnTunnelOptions for the emulated AWS (moto answers it with a 500): change one
tunnel's pre-shared key, inside CIDR or IKE/IPsec options, validated as AWS does, and answer
with the connection as AWS returns it. The caller holds the emulated AWS's lock.

AWS replaces the tunnel endpoint to apply a change (the tunnel is down meanwhile); the lab
applies it at once and lets the simulated router decide whether the tunnel comes back.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from vpnwatch.lab import moto_state
from vpnwatch.lab.faults import AwsRequest, CannedAnswer, InjectedError
from vpnwatch.lab.safety import LabError
from vpnwatch.lab.telemetry import TelemetryBook
from vpnwatch.lab.tunnel_options import parse_change
from vpnwatch.lab.vpn_details import AddressPool, TunnelPlan, check_inside_cidr

ACTION = "ModifyVpnTunnelOptions"


@dataclass(frozen=True)
class Modified:
    """A change that was applied (what listeners such as the simulated routers hear)."""

    region: str
    vpn_connection_id: str
    tunnel: TunnelPlan


def _bad(message: str) -> InjectedError:
    return InjectedError("InvalidParameterValue", 400, message)


def modify_tunnel(
    request: AwsRequest, region: str, pool: AddressPool, telemetry: TelemetryBook
) -> tuple[InjectedError | CannedAnswer, Modified | None]:
    params = request.params
    vpn_id = params.get("VpnConnectionId")
    outside = params.get("VpnTunnelOutsideIpAddress")
    if not vpn_id or not outside:
        missing = "VpnConnectionId" if not vpn_id else "VpnTunnelOutsideIpAddress"
        return InjectedError("MissingParameter", 400, f"The request must contain {missing}"), None
    tunnels = moto_state.lab_tunnels(region, vpn_id)
    if tunnels is None:
        message = f"The vpnConnection ID '{vpn_id}' does not exist"
        return InjectedError("InvalidVpnConnectionID.NotFound", 400, message), None
    old = next((t for t in tunnels if t.outside_ip == outside), None)
    if old is None:
        return _bad(f"No tunnel with outside IP address {outside} in {vpn_id}"), None
    try:
        change = parse_change(params)
        cidr = check_inside_cidr(change.inside_cidr) if change.inside_cidr else old.inside_cidr
    except LabError as exc:
        return _bad(str(exc)), None
    if params.get("DryRun", "").lower() == "true":
        message = "Request would have succeeded, but DryRun flag is set."
        return InjectedError("DryRunOperation", 412, message), None
    if cidr != old.inside_cidr:
        try:
            pool.swap_inside(old.inside_cidr, cidr)
        except LabError as exc:
            return _bad(str(exc)), None
    new = replace(
        old,
        inside_cidr=cidr,
        psk=change.psk or old.psk,
        crypto=replace(old.crypto, **change.crypto),
    )
    for ref in moto_state.replace_tunnel(region, vpn_id, new):
        if ref.outside_ip == outside:
            telemetry.update_ref(ref)
    body = moto_state.vpn_connection_response(region, vpn_id, ACTION)
    return CannedAnswer(body), Modified(region, vpn_id, new)
