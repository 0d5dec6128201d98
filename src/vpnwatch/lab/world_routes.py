"""The world's truth and its control API routes for the simulated routers (JSON):

GET  /_lab/state                   the world's state (instances, VPN connections, routers, ...)
GET  /_lab/routers                 {"routers": [router, ...]}
POST /_lab/routers/fault           {"router", "kind", "clear"? (false), "delay"? (slow only)}
                                   kind: crash|hang|bgp-down|ipsec-down|garbage|slow|
                                   deep-config|secret-output ("all" with clear)
                                   → {"router": router}
POST /_lab/routers/tamper-console  {"router"} → {"router": name, "tamper_next_console": true}
                                   (its next relaunch presents another host key than it prints)
POST /_lab/routers/impair          {"router"} → {"router": name, "instance_id": id}
                                   (its host breaks: status checks fail until stop and start)
POST /_lab/routers/doom-launch     {"router", "code"?, "message"?} → {"router": name}
                                   (its next launch dies in pending with that StateReason)

A router is {"name", "site", "role", "public_ip", "customer_gateway_id", "instance_id",
"state", "version", "port", "ssh" ("127.0.0.1:PORT" or null while down), "alive", "faults",
"bgp" {neighbor: state}, "ipsec" {peer: "up"|"down"}, "host_key", "instances"}.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vpnwatch.lab.control import ControlError, ControlRequest, field
from vpnwatch.lab.safety import LabError
from vpnwatch.lab.topology import Topology
from vpnwatch.lab.world_routers import FAULT_KINDS, WorldRouters

if TYPE_CHECKING:
    from vpnwatch.lab.world import LabWorld


def _routers_of(world: LabWorld) -> WorldRouters:
    if not world.has_routers:
        raise ControlError(400, "this lab world runs no simulated routers")
    return world.routers


def _router_name(world: LabWorld, body: Any) -> str:
    name: str = field(body, "router", str)
    if name not in _routers_of(world).names:
        raise ControlError(404, f"no router named {name!r} in this world")
    return name


def world_state(world: LabWorld) -> dict[str, Any]:
    world.lifecycle.settle()
    truth = world.aws.state()
    routers = world.routers if world.has_routers else None
    if routers is not None:
        for inst in truth["instances"]:
            owner = routers.owner_of(inst["instance_id"])
            inst["router"] = owner or inst.get("router")
    try:
        topo: Topology | None = world.topology
    except LabError:  # not (or no longer) built
        topo = None
    entries = []
    for router in topo.routers if topo is not None else ():
        entry: dict[str, Any] = {
            "name": router.name,
            "site": router.site,
            "role": router.role,
            "public_ip": router.public_ip,
            "customer_gateway_id": router.customer_gateway_id,
            "instance_id": router.instance_id,
        }
        if routers is not None:
            entry |= routers.view(router.name)
        entries.append(entry)
    truth["config_path"] = str(world.config_path)
    truth["routers"] = entries
    truth["pending_releases"] = [
        {"instance_id": p.instance_id, "private_ip": p.private_ip, "kept_eni": p.kept_eni}
        for p in world.lifecycle.pending()
    ]
    return truth


def install_world_routes(world: LabWorld) -> None:
    def state(_: ControlRequest) -> Any:
        return world_state(world)

    def list_routers(_: ControlRequest) -> Any:
        return {"routers": _routers_of(world).views()}

    def fault(req: ControlRequest) -> Any:
        name = _router_name(world, req.body)
        kind: str = field(req.body, "kind", str)
        clear = field(req.body, "clear", bool, required=False, default=False)
        delay = field(req.body, "delay", float, required=False)
        routers = _routers_of(world)
        if kind not in (*FAULT_KINDS, "all") or (kind == "all" and not clear):
            choices = ", ".join(FAULT_KINDS)
            raise ControlError(400, f"kind must be one of {choices} (or all, to clear)")
        if clear:
            view = routers.clear_fault(name, None if kind == "all" else kind)
        else:
            view = routers.set_fault(name, kind, delay)
        return {"router": view}

    def tamper(req: ControlRequest) -> Any:
        name = _router_name(world, req.body)
        _routers_of(world).tamper_next_console(name)
        return {"router": name, "tamper_next_console": True}

    def impair(req: ControlRequest) -> Any:
        name = _router_name(world, req.body)
        return {"router": name, "instance_id": _routers_of(world).impair(name)}

    def doom(req: ControlRequest) -> Any:
        name = _router_name(world, req.body)
        code = field(req.body, "code", str, required=False, default="Server.InternalError")
        message = field(req.body, "message", str, required=False, default="Internal error")
        _routers_of(world).doom_next_launch(name, code, message)
        return {"router": name}

    world.aws.add_control_route("POST", "/_lab/routers/impair", impair)
    world.aws.add_control_route("POST", "/_lab/routers/doom-launch", doom)
    world.aws.add_control_route("GET", "/_lab/state", state)
    world.aws.add_control_route("GET", "/_lab/routers", list_routers)
    world.aws.add_control_route("POST", "/_lab/routers/fault", fault)
    world.aws.add_control_route("POST", "/_lab/routers/tamper-console", tamper)
