"""`vpnwatch check`: one observation cycle, changing nothing; a table for people, JSON for
scripts. Exit 0 when every router is healthy and every tunnel UP, 1 otherwise, 2 on a bad
config."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from vpnwatch.commands.common import load
from vpnwatch.config import Config
from vpnwatch.core.cycle import CycleResult
from vpnwatch.logs import configure_logging, get_logger
from vpnwatch.service.wiring import build_service
from vpnwatch.vocabulary import Health, TunnelStatus


async def check_once(config: Config, log: Any) -> CycleResult:
    service = build_service(config, log, auto=False)
    try:  # decided as a leader would, acting on nothing: the reason says what is seen
        return await service.loop.run_cycle(preview=())
    finally:
        await service.close()


def run_check(path: str, as_json: bool) -> int:
    config = load(path)
    if isinstance(config, int):
        return config
    configure_logging("json" if as_json else config.logging.format, "warning")
    result = asyncio.run(check_once(config, get_logger()))
    print(json.dumps(to_json(result), indent=2) if as_json else as_text(result))
    return exit_code(result)


def exit_code(result: CycleResult) -> int:
    """0 when every router is healthy and every tunnel UP, else 1."""
    routers_ok = all(v.health is Health.HEALTHY for v in result.verdicts)
    tunnels_ok = all(t.status is TunnelStatus.UP for t in result.tunnels)
    return 0 if routers_ok and tunnels_ok and result.verdicts else 1


def to_json(result: CycleResult) -> dict[str, Any]:
    by_name = {o.name: o for o in result.snapshot.routers}
    routers = []
    for v in result.verdicts:
        obs = by_name[v.router]
        ssh = obs.ssh
        entry: dict[str, Any] = {
            "name": v.router,
            "site": v.site,
            "role": obs.role,
            "instance_id": v.instance_id,
            "elastic_ip": obs.aws.elastic_ip,
            "verdict": v.health.value,
            "reason": v.reason,
            "router_up": None if ssh is None else ssh.reachable,
        }
        if ssh is not None and ssh.error_kind is None:
            entry["bgp"] = {
                n.neighbor: {"state": n.state, "prefixes_received": n.prefixes_received}
                for n in (ssh.bgp.neighbors if ssh.bgp else ())
            }
            entry["ipsec"] = {
                sa.peer: sa.state for sa in (ssh.ipsec.ipsec_sas if ssh.ipsec else ()) if sa.peer
            }
        routers.append(entry)
    tunnels = [
        {
            "vpn_connection_id": t.vpn_connection_id,
            "outside_ip": t.outside_ip,
            "router": t.router,
            "status": t.status.value,
            "accepted_routes": t.accepted_routes,
            "status_message": t.status_message,
            "last_status_change": t.last_status_change.isoformat()
            if t.last_status_change
            else None,
        }
        for t in result.tunnels
    ]
    return {"reason": result.reason, "routers": routers, "tunnels": tunnels}


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def as_text(result: CycleResult) -> str:
    data = to_json(result)
    router_rows = []
    for r in data["routers"]:
        bgp = r.get("bgp")
        bgp_text = "-"
        if bgp is not None:
            up = sum(1 for n in bgp.values() if n["state"] == "Established")
            bgp_text = f"{up}/{len(bgp)}"
        ssh = {None: "-", True: "up", False: "down"}[r["router_up"]]
        router_rows.append(
            [
                r["name"],
                r["site"],
                r["instance_id"] or "-",
                r["verdict"],
                ssh,
                bgp_text,
                r["reason"],
            ]
        )
    tunnel_rows = [
        [
            t["vpn_connection_id"],
            t["outside_ip"],
            t["router"],
            t["status"],
            "-" if t["accepted_routes"] is None else str(t["accepted_routes"]),
        ]
        for t in data["tunnels"]
    ]
    return "\n\n".join(
        [
            _table(["ROUTER", "SITE", "INSTANCE", "VERDICT", "SSH", "BGP", "REASON"], router_rows),
            _table(["VPN CONNECTION", "OUTSIDE IP", "ROUTER", "STATUS", "ROUTES"], tunnel_rows),
            data["reason"],
        ]
    )
