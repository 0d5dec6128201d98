"""Wiring: real adapters + daemon + healing + metrics server. The only place that builds them."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry

from vpnwatch import __version__
from vpnwatch.adapters.aws import AwsClient, AwsSettings
from vpnwatch.adapters.ec2_actions import Ec2Actions
from vpnwatch.adapters.vyos import RouterEndpoint, SshSettings, VyosClient
from vpnwatch.backup.manager import BackupManager
from vpnwatch.backup.targets import backup_targets
from vpnwatch.backup.wiring import manager_for_config, store_for_config
from vpnwatch.config import Config, redacted
from vpnwatch.daemon import Daemon, install_signal_handlers
from vpnwatch.discovery import RouterSelector
from vpnwatch.heal.audit import AuditLog
from vpnwatch.heal.executor import HealExecutor, HealTarget
from vpnwatch.heal.gate import MutationGate
from vpnwatch.heal.progress import ProgressStore
from vpnwatch.heal.replace import Backups
from vpnwatch.heal.wiring import heal_timeouts, mutation_settings
from vpnwatch.healing import HealController
from vpnwatch.health import assess
from vpnwatch.httpserver import MetricsServer
from vpnwatch.metrics import ControlState, CycleResult, Metrics
from vpnwatch.model import Health, RouterAwsView, RouterSshView, SshErrorKind
from vpnwatch.observe import RouterPlan, SshTarget, observe_once, plan_routers
from vpnwatch.statefiles import FleetState


def aws_settings(config: Config) -> AwsSettings:
    a = config.aws
    return AwsSettings(
        endpoint_url=a.endpoint_url,
        connect_timeout=a.connect_timeout,
        read_timeout=a.read_timeout,
        max_attempts=a.max_attempts,
        retry_backoff=a.retry_backoff,
        max_concurrency=a.max_concurrency,
    )


def vyos_client(config: Config) -> VyosClient:
    s = config.ssh
    assert s.key_file is not None and s.known_hosts is not None  # enforced by the config
    return VyosClient(
        SshSettings(
            user=s.user,
            key_file=s.key_file,
            known_hosts=s.known_hosts,
            connect_timeout=s.connect_timeout,
            command_timeout=s.command_timeout,
            keepalive_interval=s.keepalive_interval,
            max_concurrency=s.max_concurrency,
            max_output_bytes=s.max_output_bytes,
        )
    )


class SshRouterObserver:
    """Adapts the VyOS adapter to the observer protocol (default host: the router's EIP).

    A router relaunched by a heal is reached with the host key verified against its console
    output (kept in the fleet state), not with the stale known_hosts entry.
    """

    def __init__(self, client: VyosClient, fleet: FleetState) -> None:
        self.client = client
        self._fleet = fleet

    async def observe_router(self, target: SshTarget, aws: RouterAwsView) -> RouterSshView:
        host = target.host or aws.elastic_ip
        if host is None:
            return RouterSshView(
                target.name,
                reachable=False,
                error="no ssh_host and no EIP known",
                error_kind=SshErrorKind.UNREACHABLE,
            )
        key = self._fleet.host_keys.get(target.name)
        endpoint = RouterEndpoint(
            target.name, host, target.port, trusted_host_keys=(key,) if key else ()
        )
        view: RouterSshView = await self.client.observe(endpoint)
        return view

    async def close(self) -> None:
        await self.client.close()


@dataclass
class Runtime:
    daemon: Daemon
    aws: AwsClient
    routers: SshRouterObserver | None
    registry: CollectorRegistry
    control: ControlState
    backups: BackupManager | None = None
    mutations: AwsClient | None = None  # the heals' own AWS client

    async def close(self) -> None:
        if self.backups is not None:
            await self.backups.close()
        controller = self.daemon.controller
        if controller is not None and controller.executor is not None:
            await controller.executor.close()
        if self.routers is not None:
            await self.routers.close()
        self.aws.close()
        if self.mutations is not None:
            self.mutations.close()


def _count(control: ControlState) -> Callable[[str, str, str], None]:
    def on_result(router: str, action: str, result: str) -> None:
        key = (router, action, result)
        control.actions[key] = control.actions.get(key, 0) + 1
        if result == "failure":
            control.heal_failures[router] = control.heal_failures.get(router, 0) + 1

    return on_result


def build_runtime(
    config: Config,
    log: Any,
    *,
    registry: CollectorRegistry | None = None,
    backups: Backups | None = None,
    clock: Callable[[], float] = time.time,
) -> Runtime:
    registry = registry or CollectorRegistry()
    control = ControlState(dry_run=config.heal.dry_run)
    # Export zeros from the start so increase() sees the first failure.
    control.heal_failures = {r.name: 0 for s in config.sites for r in s.routers}
    aws = AwsClient(aws_settings(config))
    fleet = FleetState(config.state_dir)
    client = vyos_client(config) if config.ssh.enabled else None
    routers = SshRouterObserver(client, fleet) if client is not None else None
    holder: dict[str, Daemon] = {}

    def latest() -> CycleResult | None:
        return holder["d"].latest if "d" in holder else None

    def plans() -> tuple[RouterPlan, ...]:
        fleet.reload()  # a hand-triggered heal in another process may have moved a router
        return plan_routers(config, fleet.instances)

    metrics = Metrics(registry, latest, control)
    manager: BackupManager | None = None
    if backups is None and client is not None and config.backup.enabled:
        store = store_for_config(config, aws, clock=clock)
        manager = manager_for_config(config, store, client, control=control, clock=clock, log=log)
        backups = manager

    def after_cycle(result: CycleResult) -> None:
        if manager is not None:
            views = {o.name: o.aws for o in result.snapshot.routers}
            # the fleet state was reloaded when this cycle planned its routers
            targets, _ = backup_targets(
                plan_routers(config, fleet.instances), views, fleet.host_keys
            )
            manager.run_due(clock(), targets)

    executor = None
    mutations = None
    controllers: dict[str, HealController] = {}
    if config.heal.enabled and client is not None and routers is not None:
        min_prefixes = {r.name: s.expect.min_prefixes for s in config.sites for r in s.routers}
        site_of = {r.name: (s.name, s.role) for s in config.sites for r in s.routers}
        observer = routers

        async def verify(target: HealTarget, new_id: str) -> tuple[bool, str]:
            site, role = site_of[target.router]
            plan = RouterPlan(
                target.router,
                site,
                role,
                RouterSelector(target.router, target.region, new_id, None),
                SshTarget(target.router, target.ssh_host, target.ssh_port),
            )
            snap = await observe_once([plan], aws, observer, clock=clock)
            verdict = assess(snap.routers[0], min_prefixes[target.router])
            return verdict.health is Health.HEALTHY, verdict.reason

        gate = MutationGate(
            dry_run=lambda: config.heal.dry_run,
            is_leader=lambda: control.leader,
            # read at every mutation: a pause file dropped mid-heal holds the next step
            paused=lambda: "c" in controllers and controllers["c"].paused(),
            audit=AuditLog(config.audit_file, clock),
            log=log,
        )
        mutations = AwsClient(mutation_settings(config))
        mutating = mutations
        executor = HealExecutor(
            gate=gate,
            store=ProgressStore(config.state_dir),
            fleet=fleet,
            ec2_for=lambda region: Ec2Actions(mutating, region),
            vyos=client,
            backups=backups or _NoBackups(),
            verify=verify,
            strategy=config.heal.strategy,
            timeouts=heal_timeouts(config),
            managed_tag=(config.managed_tag.key, config.managed_tag.value),
            log=log,
            on_result=_count(control),
            clock=clock,
            strip_sections=config.backup.strip_sections,
            ami_overrides=config.heal.ami,
        )
    controller = HealController(
        config, executor=executor, backups=backups, control=control, log=log, clock=clock
    )
    controllers["c"] = controller
    daemon = Daemon(
        config,
        aws=aws,
        routers=routers,
        metrics=metrics,
        control=control,
        log=log,
        clock=clock,
        controller=controller,
        plans=plans,
        after_cycle=after_cycle,
    )
    holder["d"] = daemon
    return Runtime(daemon, aws, routers, registry, control, manager, mutations)


class _NoBackups:
    """Until backups are configured there is nothing to restore: replacement is refused."""

    def latest_valid_backup(self, router: str) -> tuple[str, str] | None:
        return None


async def run_daemon(config: Config, log: Any) -> int:
    log.info("starting", version=__version__, pid=os.getpid(), config=redacted(config))
    runtime = build_runtime(config, log)
    server = MetricsServer(
        runtime.registry,
        host=config.metrics.host,
        port=config.metrics.port,
        healthy=runtime.daemon.healthy,
        ready=runtime.daemon.ready,
    )
    stop = asyncio.Event()
    controller = runtime.daemon.controller
    install_signal_handlers(stop, controller.toggle_pause if controller else None)
    try:
        if runtime.backups is not None:  # a router that is dead at start can still be restored
            await runtime.backups.load([r.name for s in config.sites for r in s.routers])
        await server.start()
        log.info("metrics listening", listen=f"{config.metrics.host}:{server.port}")
        await runtime.daemon.run(stop)
    finally:
        log.info("stopping")
        await server.stop()
        await runtime.close()
    return 0


async def check_once(config: Config, log: Any) -> CycleResult:
    runtime = build_runtime(config, log)
    runtime.daemon.controller = None  # `check` only observes, never acts
    try:
        return await runtime.daemon.run_cycle()
    finally:
        await runtime.close()
