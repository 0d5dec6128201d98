"""The control API routes of the emulated AWS (all JSON; errors are {"error": "..."}):

GET    /_lab/health    {"ok": true, "pid": N, "endpoint_url": "..."}
GET    /_lab/state     EmulatedAws.state() (LabWorld replaces it with its richer state)
GET    /_lab/faults    {"faults": [rule, ...]}
POST   /_lab/faults    {"action", "code"?, "status"?, "count"? (1), "delay"? (0)} → {"fault": rule}
DELETE /_lab/faults    {"action"?} or ?action=X (none = all) → {"cleared": N}
GET    /_lab/tunnels   {"tunnels": [tunnel, ...]}
POST   /_lab/tunnels   {"vpn_id", "outside_ip", "status": "UP"|"DOWN"|null} → {"tunnel": tunnel}
POST   /_lab/maintenance  {"vpn_id", "outside_ip", "what": "pending"|"apply"|"show",
                       "ikev1"? (false), "auto_apply_in"? (s, 14 days), "down_for"? (s)}
                       → {"maintenance": {...}}: AWS's side of an endpoint replacement
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from vpnwatch.lab.control import ControlError, ControlRequest, field
from vpnwatch.lab.safety import LabError
from vpnwatch.lab.tunnel_maintenance import DEFAULT_AUTO_APPLY

if TYPE_CHECKING:
    from vpnwatch.lab.aws_world import EmulatedAws


def install_routes(aws: EmulatedAws) -> None:
    def health(_: ControlRequest) -> Any:
        return {"ok": True, "pid": os.getpid(), "endpoint_url": aws.endpoint_url}

    def state(_: ControlRequest) -> Any:
        return aws.state()

    def list_faults(_: ControlRequest) -> Any:
        return {"faults": [rule.to_json() for rule in aws.faults()]}

    def add_fault(req: ControlRequest) -> Any:
        rule = aws.add_fault(
            field(req.body, "action", str),
            code=field(req.body, "code", str, required=False),
            status=field(req.body, "status", int, required=False),
            count=field(req.body, "count", int, required=False, default=1),
            delay=field(req.body, "delay", float, required=False, default=0.0),
        )
        return {"fault": rule.to_json()}

    def clear_faults(req: ControlRequest) -> Any:
        action = req.query.get("action") or field(req.body, "action", str, required=False)
        return {"cleared": aws.clear_faults(action)}

    def list_tunnels(_: ControlRequest) -> Any:
        return {"tunnels": [record.to_json() for record in aws.tunnels()]}

    def set_tunnel(req: ControlRequest) -> Any:
        status = field(req.body, "status", str, required=False)
        if status is not None and status.upper() not in ("UP", "DOWN"):
            raise ControlError(400, "status must be UP, DOWN or null")
        vpn_id = field(req.body, "vpn_id", str)
        outside_ip = field(req.body, "outside_ip", str)
        known = {r.ref.key for r in aws.tunnels(vpn_id)}
        if (vpn_id, outside_ip) not in known:
            raise ControlError(404, f"no tunnel {outside_ip} in VPN connection {vpn_id}")
        record = aws.set_tunnel(vpn_id, outside_ip, status.upper() if status else None)
        return {"tunnel": record.to_json()}

    def maintenance(req: ControlRequest) -> Any:
        vpn_id = field(req.body, "vpn_id", str)
        outside_ip = field(req.body, "outside_ip", str)
        what = field(req.body, "what", str)
        try:
            if what == "pending":
                default = DEFAULT_AUTO_APPLY.total_seconds()
                wait = field(req.body, "auto_apply_in", float, required=False, default=default)
                return {"maintenance": aws.maintenance.schedule(vpn_id, outside_ip, wait)}
            if what == "apply":
                ikev1 = field(req.body, "ikev1", bool, required=False, default=False)
                down_for = field(req.body, "down_for", float, required=False)
                found = aws.maintenance.apply(vpn_id, outside_ip, ikev1=ikev1, down_for=down_for)
                return {"maintenance": found}
            if what == "show":
                return {"maintenance": aws.maintenance.view(vpn_id, outside_ip)}
        except LabError as exc:
            raise ControlError(409 if "at a time" in str(exc) else 404, str(exc)) from None
        raise ControlError(400, "what must be pending, apply or show")

    aws.add_control_route("POST", "/_lab/maintenance", maintenance)
    aws.add_control_route("GET", "/_lab/health", health)
    aws.add_control_route("GET", "/_lab/state", state)
    aws.add_control_route("GET", "/_lab/faults", list_faults)
    aws.add_control_route("POST", "/_lab/faults", add_fault)
    aws.add_control_route("DELETE", "/_lab/faults", clear_faults)
    aws.add_control_route("GET", "/_lab/tunnels", list_tunnels)
    aws.add_control_route("POST", "/_lab/tunnels", set_tunnel)
