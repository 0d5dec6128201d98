"""AWS's tunnel maintenance over many cycles in one process (issue 12), asserted by reasons.

The real loop, pure step, maintenance watcher, tunnel actor, mutation gate and file store run
over the fake fleet (tests/cycle/fakes.py) grown tunnels of their own, and a fake of AWS's
maintenance API: a replacement leaves a tunnel down until the router initiates, as IKEv1 or a
passive startup action do; the router's op-mode answers as VyOS 1.4.3 does.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.audit import audit_lines
from tests.cycle.fakes import Daemon, FakeClock, FakeFleet, fleet_config
from vpnwatch import model as m
from vpnwatch.adapters.vpn_maintenance import FeatureUnavailable
from vpnwatch.discovery import RouterSelector
from vpnwatch.heal.tunnel_actions import TunnelActor
from vpnwatch.logs import get_logger
from vpnwatch.observe import SshTarget
from vpnwatch.service.maintenance import MaintenanceWatcher
from vpnwatch.vocabulary import Action, TunnelStatus

R = "spoke1-r1"
ALL_HEALTHY = "no action: 4/4 routers healthy"
VERSION = "Version:          VyOS 1.4.3\nRelease train:    sagitta\n"


class TunnelFleet(FakeFleet):
    """Routers whose tunnels can each be down (waiting for someone to initiate)."""

    down: set[tuple[str, int]]
    initiate_type: str | None
    stubborn: bool

    def setup(self) -> None:
        self.down = set()
        self.initiate_type = "initiate"
        self.stubborn = False

    def key(self, router: str, i: int) -> tuple[str, str]:
        return ("vpn-" + router, self.routers[router].outside[i])

    def _view(self, selector: RouterSelector) -> m.RouterAwsView:
        view = super()._view(selector)
        conn = view.connections[0]
        telemetry = tuple(
            t if (selector.name, i) not in self.down else
            m.TunnelTelemetry(t.vpn_connection_id, t.outside_ip, TunnelStatus.DOWN, "", 0, None)
            for i, t in enumerate(conn.telemetry)
        )  # fmt: skip
        tunnels = tuple(
            m.TunnelInfo(t.vpn_connection_id, t.outside_ip, None, t.aws_inside_ip, None, True)
            for t in conn.tunnels
        )
        conn = m.VpnConnectionInfo(conn.vpn_connection_id, "available", "cgw", "", "vgw",
                                   tunnels, telemetry)  # fmt: skip
        return m.RouterAwsView(view.router, view.region, view.instance, view.elastic_ip, (conn,))

    async def observe_router(self, target: SshTarget, aws: m.RouterAwsView) -> m.RouterSshView:
        view = await super().observe_router(target, aws)
        if view.ike is None or view.ipsec is None or view.bgp is None:
            return view
        down = {self.routers[target.name].outside[i] for r, i in self.down if r == target.name}
        inside = dict(
            zip(self.routers[target.name].outside, self.routers[target.name].inside, strict=True)
        )
        ike = tuple(
            m.IkeSa(s.peer, s.local, "down" if s.peer in down else s.state, "IKEv2", None, None,
                    None, 1, 2)
            for s in view.ike.ike_sas
        )  # fmt: skip
        child = tuple(
            m.IpsecSa(s.connection, s.peer, "down" if s.peer in down else s.state, 1, 1, 1)
            for s in view.ipsec.ipsec_sas
        )
        cut = {inside[p] for p in down}
        bgp = tuple(
            m.BgpNeighbor(n.neighbor, n.remote_as, "Active", None, None, None, None)
            if n.neighbor in cut
            else n
            for n in view.bgp.neighbors
        )
        return m.RouterSshView(
            view.router, True, None, None, m.BgpSummary("10.0.0.1", 65000, bgp),
            m.IkeSaList(ike), m.IpsecSaList(child),
        )  # fmt: skip

    async def run_op(self, endpoint: Any, command: str) -> str:
        name = endpoint.name
        if command == "show version":
            return VERSION
        if command == "show configuration commands":
            lines = []
            for i, ip in enumerate(self.routers[name].outside):
                lines.append(f"set vpn ipsec site-to-site peer AWS-{i + 1} remote-address '{ip}'")
                if self.initiate_type:
                    lines.append(
                        f"set vpn ipsec site-to-site peer AWS-{i + 1} connection-type "
                        f"'{self.initiate_type}'"
                    )
            return "\n".join(lines) + "\n"
        self.calls.append(f"{name}: {command}")
        if self.stubborn:
            return ""
        if command.startswith("reset vpn ipsec site-to-site peer AWS-"):
            if self.initiate_type == "initiate":
                self.down.discard((name, int(command[-1]) - 1))
        elif command == "restart vpn":
            self.down = {d for d in self.down if d[0] != name}
        return ""


class FakeMaintenanceApi:
    """AWS's side: what GetVpnTunnelReplacementStatus says, and ReplaceVpnTunnel."""

    def __init__(self, fleet: TunnelFleet, clock: FakeClock) -> None:
        self.fleet, self.clock = fleet, clock
        self.records: dict[tuple[str, str], m.TunnelMaintenance] = {}
        self.reads = 0
        self.applied: list[tuple[str, str]] = []
        self.off = False

    def apply_now(self, router: str, i: int) -> None:
        """AWS replaces the endpoint: the tunnel is down until the router initiates."""
        key = self.fleet.key(router, i)
        self.records[key] = m.TunnelMaintenance(*key, False, None, self.clock.now, self.clock.now)
        self.fleet.down.add((router, i))

    def schedule(self, router: str, i: int, auto_in: float) -> None:
        key = self.fleet.key(router, i)
        now = self.clock.now
        self.records[key] = m.TunnelMaintenance(*key, True, now + auto_in, None, now)

    async def replacement_status(
        self, region: str, vpn_id: str, ip: str, now: float
    ) -> m.TunnelMaintenance:
        self.reads += 1
        if self.off:
            raise FeatureUnavailable("UnauthorizedOperation: not allowed")
        found = self.records.get((vpn_id, ip))
        return found or m.TunnelMaintenance(vpn_id, ip, False, None, None, now)

    async def apply_pending(self, region: str, vpn_id: str, ip: str) -> bool:
        self.applied.append((vpn_id, ip))
        router = vpn_id.removeprefix("vpn-")
        self.apply_now(router, self.fleet.routers[router].outside.index(ip))
        return True


class World:
    def __init__(self, tmp_path: Path, **maintenance: Any) -> None:
        self.fleet = TunnelFleet.of()
        self.fleet.setup()
        self.clock = FakeClock()
        config = fleet_config(tmp_path)
        rules = config.maintenance.model_validate(
            {"reinitiate": {"after": 10, "verify_window": 10, "attempts": 2}, **maintenance}
        )
        config = config.model_copy(update={"maintenance": rules})
        self.daemon = Daemon(config, self.fleet, self.clock)
        self.api = FakeMaintenanceApi(self.fleet, self.clock)
        loop, log = self.daemon.loop, get_logger("test")
        self.watcher = MaintenanceWatcher(
            self.api,  # type: ignore[arg-type]
            self.daemon.config, log=log, clock=self.clock, sleep=_no_sleep,
        )  # fmt: skip
        self.actor = TunnelActor(
            store=self.daemon.store, lease=self.daemon.lease, vyos=self.fleet,  # type: ignore[arg-type]
            api=self.api, book=self.watcher, host_key=loop.host_key,  # type: ignore[arg-type]
            paused=loop.paused, log=log, on_result=self.daemon.control.count_heal,
            clock=self.clock,
        )  # fmt: skip
        loop.parts.maintenance, loop.parts.tunnels = self.watcher, self.actor

    async def cycles(self, n: int) -> list[str]:
        out = []
        for _ in range(n):
            out += await self.daemon.cycles(1)
            await self.actor.wait_idle()
            for _ in range(20):
                await asyncio.sleep(0)
        return out

    def audit(self) -> list[tuple[str, str, str]]:
        return [
            (e["router"], e["action"], e["result"])
            for e in audit_lines(self.daemon.store.audit_file)
            if "heal_id" in e
        ]


async def _no_sleep(seconds: float) -> None:
    await asyncio.sleep(0)


async def test_an_endpoint_replacement_is_aws_maintenance_and_the_router_reinitiates(
    tmp_path: Path,
) -> None:
    w = World(tmp_path)
    assert await w.cycles(1) == [ALL_HEALTHY]
    ip = w.fleet.routers[R].outside[1]
    w.api.apply_now(R, 1)
    reasons = await w.cycles(2)
    assert reasons[0].startswith(f"no action: {R} degraded: 1/2 tunnels up")  # not read yet
    note = f"tunnel {ip}: AWS endpoint maintenance (applied 5 s ago)"
    assert reasons[1] == f"no action: {R} degraded: 1/1 other tunnels up; {note}; 3/4 healthy"
    assert await w.cycles(1) == [
        f"re-initiating IKE on {R} for tunnel {ip}: AWS endpoint maintenance (applied 10 s ago),"
        " still down (attempt 1/2)"
    ]
    assert await w.cycles(2) == [ALL_HEALTHY, ALL_HEALTHY]
    assert w.fleet.calls == [f"{R}: reset vpn ipsec site-to-site peer AWS-2"]
    assert w.audit() == [
        (
            R,
            "reinitiate-ike",
            f"done: reset vpn ipsec site-to-site peer AWS-2 on {R} (VyOS 1.4.3: terminates, "
            "then initiates: connection-type initiate)",
        )
    ]
    assert w.daemon.control.actions == {(R, "reinitiate-ike", "success"): 1}


async def test_both_tunnels_replaced_in_turn_climb_no_ladder(tmp_path: Path) -> None:
    w = World(tmp_path, reinitiate={"after": 20, "verify_window": 10, "attempts": 2})
    w.fleet.initiate_type = None  # no connection-type initiate: a peer reset only terminates
    await w.cycles(1)
    w.api.apply_now(R, 0)
    await w.cycles(1)
    w.api.apply_now(R, 1)  # AWS moves on to the other tunnel; the first is still down
    reasons = await w.cycles(8)
    a, b = w.fleet.routers[R].outside
    both = (
        f"no action: {R} degraded: tunnel {a}: AWS endpoint maintenance (applied 10 s ago); "
        f"tunnel {b}: AWS endpoint maintenance (applied 5 s ago); 3/4 healthy"
    )
    assert both in reasons
    assert not any(
        r.startswith(("resetting", "restarting", "rebooting", "replacing")) for r in reasons
    )
    assert not any("failing 2/2" in r for r in reasons)
    assert reasons[-1] == ALL_HEALTHY
    assert [a for _, a, _ in w.audit()] == ["reinitiate-ike"]  # restart vpn brought both back
    assert "restart vpn on" in w.audit()[0][2]  # a peer reset would only have terminated
    assert w.daemon.store.heal_records()[0] == ()


async def test_the_same_tunnels_down_without_a_maintenance_record_escalate(tmp_path: Path) -> None:
    w = World(tmp_path)
    await w.cycles(1)
    w.fleet.down |= {(R, 0), (R, 1)}
    reasons = await w.cycles(6)
    assert f"resetting BGP on {R}: {R} bgp-ipsec-down for 5 s" in reasons
    assert f"restarting VPN on {R}: {R} bgp-ipsec-down for 15 s" in reasons
    assert reasons[-1] == ALL_HEALTHY
    assert list(dict.fromkeys(a for _, a, _ in w.audit())) == [
        Action.RESET_BGP,
        Action.RESTART_VPN,
    ]
    assert w.api.reads > 0  # it looked, and AWS had nothing to say


async def test_reinitiation_that_does_not_bring_the_sa_back_stops_and_alerts(
    tmp_path: Path,
) -> None:
    w = World(tmp_path)
    await w.cycles(1)
    w.api.apply_now(R, 1)
    w.fleet.stubborn = True  # the command runs, the SA does not come back
    reasons = await w.cycles(12)
    attempts = [r for r in reasons if r.startswith("re-initiating IKE")]
    assert [r.rpartition(" ")[2] for r in attempts] == ["1/2)", "2/2)"]
    assert reasons[-1].endswith("still down after 2 IKE re-initiations; needs an operator")
    assert {a for _, a, _ in w.audit()} == {"reinitiate-ike"}


async def test_dry_run_says_it_would_have_and_changes_nothing(tmp_path: Path) -> None:
    w = World(tmp_path)
    w.daemon.config.value = w.daemon.config.value.model_copy(
        update={"heal": w.daemon.config.value.heal.model_copy(update={"dry_run": True})}
    )
    await w.cycles(1)
    w.api.apply_now(R, 1)
    reasons = await w.cycles(5)
    assert any(r.startswith(f"re-initiating IKE on {R}") for r in reasons)
    assert w.fleet.calls == []
    results = [res for _, _, res in w.audit()]
    assert results and all(
        r.startswith("would have reset vpn ipsec site-to-site peer") for r in results
    )


WINDOW = {"enabled": True, "window": {"days": ["thu"], "start": "00:00", "end": "23:59"}}


async def test_controlled_maintenance_applies_one_tunnel_at_a_time_in_the_window(
    tmp_path: Path,
) -> None:
    w = World(tmp_path, apply=WINDOW)  # the fake clock starts on a Monday: nothing yet
    w.api.schedule(R, 0, auto_in=86400)
    w.api.schedule("hub-r1", 1, auto_in=2 * 86400)
    await w.cycles(2)
    assert w.api.applied == []
    w.clock.advance(3 * 86400 - 10)  # Thursday
    reasons = await w.cycles(12)
    first = f"applying AWS's pending maintenance to tunnel {w.fleet.routers[R].outside[0]}"
    assert any(r.startswith(first) for r in reasons), reasons
    assert w.api.applied == [
        w.fleet.key(R, 0),
        w.fleet.key("hub-r1", 1),
    ]
    applied_at = [r for r in reasons if r.startswith("applying")]
    assert len(applied_at) == 2
    between = reasons[reasons.index(applied_at[0]) : reasons.index(applied_at[1])]
    assert any(r.startswith("re-initiating IKE on " + R) for r in between)  # first back first
    assert reasons[-1] == ALL_HEALTHY


async def test_controlled_maintenance_waits_while_the_partner_router_is_unhealthy(
    tmp_path: Path,
) -> None:
    w = World(tmp_path, apply=WINDOW)
    w.clock.advance(3 * 86400)  # Thursday
    w.api.schedule(R, 0, auto_in=86400)
    w.fleet.down.add(("spoke1-r2", 1))
    await w.cycles(4)
    assert w.api.applied == []
    w.fleet.down.clear()
    await w.cycles(2)
    assert w.api.applied == [w.fleet.key(R, 0)]


async def test_unauthorized_turns_the_feature_off_once_and_reads_stop(tmp_path: Path) -> None:
    w = World(tmp_path)
    w.api.off = True
    await w.cycles(1)
    assert w.watcher.off is not None
    reads = w.api.reads
    w.fleet.down.add((R, 1))
    await w.cycles(5)
    assert w.api.reads == reads  # no errors every cycle: probed again in an hour
    w.clock.advance(3600)
    w.api.off = False
    await w.cycles(2)
    assert w.watcher.off is None and w.api.reads > reads
