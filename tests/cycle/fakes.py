"""An in-process fleet for many-cycle tests: fakes at the adapter boundary, a fake clock.

`FakeFleet` answers as the AWS and router observers do (real model objects), takes the soft
fixes and the reboot as the VyOS and EC2 adapters would, and replaces a router step by step
through the real mutation gate (so dry-run, pause, the lease and the audit all apply). The
loop, the pure step, the executor and the file state store are the real ones.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vpnwatch import model as m
from vpnwatch.config import Config
from vpnwatch.configfile import parse_config
from vpnwatch.core.cycle import CycleResult
from vpnwatch.core.records import HealRecord
from vpnwatch.discovery import ObservedAws, RouterSelector
from vpnwatch.heal.executor import HealExecutor, HealTools
from vpnwatch.heal.replace import SAME_IP_STEPS, HealFailed, ReplaceContext
from vpnwatch.logs import get_logger
from vpnwatch.metrics import ControlState
from vpnwatch.observe import SshTarget
from vpnwatch.service.loop import ConfigRef, Loop, Parts
from vpnwatch.statestore.files import FileStateStore
from vpnwatch.statestore.lease import FileLease
from vpnwatch.vocabulary import Action, HealStatus, SshErrorKind, TunnelStatus

ROUTERS = {"hub-r1": "hub", "hub-r2": "hub", "spoke1-r1": "spoke1", "spoke1-r2": "spoke1"}
HEALTHY, TUNNELS_DOWN, DEAD = "healthy", "tunnels-down", "dead"


def fleet_config(state_dir: Path, **heal: Any) -> Config:
    """Four routers in two sites; failed after 2 cycles and 5 s; short verify windows."""
    lines = [
        "ssh: {key_file: /nonexistent/id, known_hosts: /nonexistent/known_hosts}",
        f"state_dir: {state_dir}",
        "health: {interval: 5, failures: 2, min_failed_seconds: 5}",
        "sites:",
    ]
    for site in ("hub", "spoke1"):
        lines.append(f"  - {{name: {site}, role: {'hub' if site == 'hub' else 'spoke'}, routers: [")
        for n, (router, s) in enumerate(ROUTERS.items()):
            if s == site:
                lines.append(f"      {{name: {router}, instance_id: i-0000000000000{n:03d}}},")
        lines.append("    ]}")
    config = parse_config("\n".join(lines) + "\n", environ={})
    rules = {
        "dry_run": False,
        "cooldown": 30.0,
        "verify_windows": {"reset_bgp": 10, "restart_vpn": 10, "reboot": 10, "replace": 10},
        **heal,
    }
    return config.model_copy(update={"heal": config.heal.model_validate(rules)})


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class FakeRouter:
    name: str
    site: str
    number: int
    state: str = HEALTHY
    cured_by: frozenset[Action] = frozenset()  # the actions that fix its current fault
    instance_id: str = ""
    generation: int = 0

    def __post_init__(self) -> None:
        self.instance_id = self.instance_id or f"i-0000000000000{self.number:03d}"

    @property
    def outside(self) -> tuple[str, str]:
        return (f"198.51.100.{2 * self.number + 1}", f"198.51.100.{2 * self.number + 2}")

    @property
    def inside(self) -> tuple[str, str]:
        return (f"169.254.{self.number}.1", f"169.254.{self.number}.5")


@dataclass
class FakeFleet:
    routers: dict[str, FakeRouter] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)  # what reached the "world", in order
    hold_at: str | None = None  # a replacement step that blocks until released
    released: asyncio.Event = field(default_factory=asyncio.Event)
    fail_replacements: bool = False
    backups: bool = True
    during_observe: Callable[[], Awaitable[None]] | None = None  # runs inside the AWS poll

    @classmethod
    def of(cls, names: dict[str, str] = ROUTERS) -> FakeFleet:
        return cls({n: FakeRouter(n, s, i) for i, (n, s) in enumerate(names.items())})

    def fault(self, name: str, state: str, *cured_by: Action) -> None:
        self.routers[name].state = state
        self.routers[name].cured_by = frozenset(cured_by)

    def _cure(self, name: str, action: Action) -> None:
        router = self.routers[name]
        if action in router.cured_by:
            router.state, router.cured_by = HEALTHY, frozenset()

    # ------------------------------------------------------------ the observers

    def _view(self, selector: RouterSelector) -> m.RouterAwsView:
        r = self.routers[selector.name]
        up = r.state == HEALTHY
        status = TunnelStatus.UP if up else TunnelStatus.DOWN
        when = datetime(2026, 1, 1, tzinfo=UTC)
        tunnels = tuple(
            m.TunnelInfo("vpn-" + r.name, r.outside[i], None, r.inside[i], None) for i in (0, 1)
        )
        telemetry = tuple(
            m.TunnelTelemetry("vpn-" + r.name, r.outside[i], status, "", 1 if up else 0, when)
            for i in (0, 1)
        )
        conn = m.VpnConnectionInfo(
            "vpn-" + r.name, "available", "cgw-1", "", "vgw-1", tunnels, telemetry
        )
        instance = m.InstanceInfo(
            r.instance_id, "running", "10.0.0.1", None, "subnet-1", False,
            tags={"vpnwatch:managed": "true"},
        )  # fmt: skip
        return m.RouterAwsView(r.name, selector.region, instance, f"127.0.1.{r.number}", (conn,))

    async def observe(self, selectors: Sequence[RouterSelector]) -> ObservedAws:
        if self.during_observe is not None:
            await self.during_observe()
        return ObservedAws({s.name: self._view(s) for s in selectors}, ())

    async def observe_router(self, target: SshTarget, aws: m.RouterAwsView) -> m.RouterSshView:
        r = self.routers[target.name]
        if r.state == DEAD:
            return m.RouterSshView(r.name, False, "connection refused", SshErrorKind.UNREACHABLE)
        up = r.state == HEALTHY
        bgp = m.BgpSummary(
            "10.0.0.1",
            65000,
            tuple(
                m.BgpNeighbor(
                    ip,
                    64512,
                    "Established" if up else "Active",
                    1 if up else None,
                    100 if up else None,
                    "IPv4 Unicast",
                    None,
                )
                for ip in r.inside
            ),
        )
        state = "up" if up else "down"
        ike = m.IkeSaList(
            tuple(m.IkeSa(p, "10.0.0.1", state, "IKEv1", None, None, None, 1, 2) for p in r.outside)
        )
        child = m.IpsecSaList(tuple(m.IpsecSa(f"peer-{p}", p, state, 1, 1, 1) for p in r.outside))
        return m.RouterSshView(r.name, True, None, None, bgp, ike, child)

    # ------------------------------------------------------------ what heals act on

    def latest_valid_backup(self, router: str) -> tuple[str, str] | None:
        return ("set system host-name x", "v1") if self.backups else None

    async def run_op(self, endpoint: Any, command: str) -> str:
        self.calls.append(f"{endpoint.name}: {command}")
        if command.startswith("reset ip bgp"):
            self._cure(endpoint.name, Action.RESET_BGP)
        elif command == "restart vpn":
            self._cure(endpoint.name, Action.RESTART_VPN)
        return ""

    async def reboot(self, instance_id: str) -> None:
        name = next(r.name for r in self.routers.values() if r.instance_id == instance_id)
        self.calls.append(f"{name}: reboot {instance_id}")
        self._cure(name, Action.REBOOT)

    async def replace(self, record: HealRecord, ctx: ReplaceContext) -> HealRecord:
        """The replacement's steps through the real gate; the last ones bring a new twin."""
        router = self.routers[record.router]
        for step in SAME_IP_STEPS:
            if step in record.steps_done:
                continue
            ctx.on_step(step)
            if step == self.hold_at:
                await self.released.wait()
            if self.fail_replacements and step == "verify-host-key":
                raise HealFailed("host key of the new instance does not match its console")

            async def act(step: str = step, router: str = record.router) -> None:
                self.calls.append(f"{router}: {step}")

            await ctx.gate.mutate(
                heal_id=record.heal_id, router=record.router, action="replace", step=step,
                description=f"{step} for {record.router}", call=act,
            )  # fmt: skip
            changes: dict[str, Any] = {}
            if step == "launch" and not ctx.gate.dry_run:
                router.generation += 1
                changes["new_instance_id"] = f"i-00000000001{router.number}{router.generation:03d}"
            record = record.done(step, **changes)
            ctx.store.save(record)
            ctx.on_record(record)
        if not ctx.gate.dry_run:
            router.instance_id = record.new_instance_id or router.instance_id
            router.state, router.cured_by = HEALTHY, frozenset()
        record = record.done("finished", status=HealStatus.DONE)
        ctx.store.save(record)
        return record

    def ec2(self, region: str) -> FakeFleet:
        return self

    def public_key_line(self) -> str:
        """The daemon's key a replacement puts into the launch's user data."""
        return "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeFleetKeyForTheCycleTests vpnwatch"


class Daemon:
    """One "process": the real loop, executor and file store over the fake fleet."""

    def __init__(
        self, config: Config, fleet: FakeFleet, clock: FakeClock, holder: str = "test"
    ) -> None:
        self.config = ConfigRef(config)
        self.fleet = fleet
        self.clock = clock
        self.lease = FileLease(config.state_dir, holder=holder)
        self.store = FileStateStore(
            config.state_dir, audit_file=config.audit_file, lease=self.lease
        )
        self.control = ControlState()
        parts = Parts(
            aws=fleet, routers=fleet, store=self.store, lease=self.lease, control=self.control,
            backups=fleet,
        )  # fmt: skip
        self.loop = Loop(self.config, parts, log=get_logger("test"), clock=clock)
        tools = HealTools(
            ec2_for=fleet.ec2,  # type: ignore[arg-type]
            vyos=fleet,  # type: ignore[arg-type]
            backups=fleet,
            verify=None,  # type: ignore[arg-type]  # the fake replacement verifies itself
            host_key=self.loop.host_key,
            replacer=fleet.replace,
        )
        self.executor = HealExecutor(
            store=self.store, lease=self.lease, tools=tools, config=self.config,
            paused=self.loop.paused, log=get_logger("test"), on_result=self.control.count_heal,
            clock=clock, sleep=_no_sleep,
        )  # fmt: skip
        parts.executor = self.executor
        self.reasons: list[str] = []

    async def cycle(self) -> CycleResult:
        """One cycle, then let started heals run as far as they can, then one interval."""
        result = await self.loop.run_cycle()
        self.reasons.append(result.reason)
        for _ in range(20):
            await asyncio.sleep(0)
        self.clock.advance(self.config().health.interval)
        return result

    async def cycles(self, n: int) -> list[str]:
        start = len(self.reasons)
        for _ in range(n):
            await self.cycle()
        return self.reasons[start:]

    async def until(self, predicate: Any, limit: int = 40) -> str:
        for _ in range(limit):
            reason = (await self.cycle()).reason
            if predicate(reason):
                return reason
        raise AssertionError(f"no such reason in {limit} cycles; last: {self.reasons[-5:]}")

    async def crash(self) -> None:
        """Die without cleaning up: heals are cancelled mid-step, the lease is dropped."""
        await self.executor.close()
        self.lease.release()


async def _no_sleep(seconds: float) -> None:
    await asyncio.sleep(0)


def audit_actions(daemon: Daemon) -> Iterator[tuple[str, str, str]]:
    from tests.audit import audit_lines

    for entry in audit_lines(daemon.store.audit_file):
        if "heal_id" in entry:
            yield entry["router"], entry["action"], entry["result"]
