"""The composition root: every adapter, store and worker is built here, from the config's
own sub-models (`AwsClient(config.aws)`, `VyosClient(config.ssh)`), once per process.

Heals mutate through their own AWS client (`AwsClient(config.aws, mutations=config.heal.aws)`:
longer timeouts, backoff with jitter), apart from the poll budget; rehearsals use it too, so
they test the client a replacement would use.

`vpnwatch run` builds a daemon, `vpnwatch heal` a service that acts only on its own request
(`--rehearse`: just the rehearsal side), `vpnwatch backup` just the backup side; none of them
builds a second one or swaps parts.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from prometheus_client import CollectorRegistry

from vpnwatch.adapters.aws import AwsClient
from vpnwatch.adapters.ec2_actions import Ec2Actions
from vpnwatch.adapters.vpn_maintenance import VpnMaintenanceApi
from vpnwatch.adapters.vyos import RouterEndpoint, VyosClient
from vpnwatch.backup.manager import BackupManager
from vpnwatch.backup.store import BackupStore, LocalStore, S3Store
from vpnwatch.backup.targets import backup_targets
from vpnwatch.config import Config
from vpnwatch.core.cycle import CycleResult
from vpnwatch.core.health import assess
from vpnwatch.discovery import RouterSelector
from vpnwatch.heal.context import Backups
from vpnwatch.heal.executor import HealExecutor, HealTarget, HealTools, VpnIntentSource
from vpnwatch.heal.rehearse import Rehearsal, rehearse
from vpnwatch.heal.tunnel_actions import TunnelActor
from vpnwatch.metrics import AwsRequestMetrics, ControlState, MaintenanceCollector, Metrics
from vpnwatch.model import RouterAwsView, RouterSshView
from vpnwatch.observe import RouterPlan, SshTarget, observe_once, plan_routers
from vpnwatch.service.loop import ConfigRef, Loop, Parts
from vpnwatch.service.maintenance import MaintenanceWatcher
from vpnwatch.service.rehearsals import Rehearsals
from vpnwatch.service.state_backend import StateBackend, open_state
from vpnwatch.service.vpn_drift import VpnDriftWatch
from vpnwatch.service.vpn_seed import vpn_intent_source
from vpnwatch.statestore.api import Lease, StateStore, Stored
from vpnwatch.vocabulary import Health, Mode, SshErrorKind


class SshRouterObserver:
    """The observer protocol over the VyOS adapter. A router relaunched by a heal is reached
    with the host key verified against its console output, not the stale known_hosts entry."""

    def __init__(self, client: VyosClient, host_key: Callable[[str], str | None]) -> None:
        self.client = client
        self._host_key = host_key

    async def observe_router(self, target: SshTarget, aws: RouterAwsView) -> RouterSshView:
        endpoint = RouterEndpoint.of_router(
            target.name,
            ssh_host=target.host,
            elastic_ip=aws.elastic_ip,
            port=target.port,
            trusted_key=self._host_key(target.name),
        )
        if endpoint is None:
            return RouterSshView(
                target.name,
                reachable=False,
                error="no ssh_host and no EIP known",
                error_kind=SshErrorKind.UNREACHABLE,
            )
        view: RouterSshView = await self.client.observe(endpoint)
        return view


class _NoBackups:
    """Until backups are configured there is nothing to restore: replacement is refused."""

    def latest_valid_backup(self, router: str) -> tuple[str, str] | None:
        return None


def backup_store(
    config: Config, aws: AwsClient, *, clock: Callable[[], float] = time.time
) -> BackupStore:
    """backup.store: `dir` (default `<state_dir>/backups`) or `s3` (SSE-KMS)."""
    backup = config.backup
    if backup.store == "s3":
        s3 = backup.s3
        assert s3 is not None  # the config refuses store: s3 without an s3 section
        region = s3.region or config.aws.region
        return S3Store(aws, region, s3.bucket, s3.prefix, s3.kms_key_id, backup.keep, clock=clock)
    return LocalStore(config.backup_dir, backup.keep, clock=clock)


def backup_manager(
    config: Config,
    aws: AwsClient,
    vyos: VyosClient,
    *,
    control: ControlState | None = None,
    clock: Callable[[], float] = time.time,
    log: Any = None,
) -> BackupManager:
    # A pull is one command plus a few store calls: allow a generous multiple of both budgets.
    budget = config.ssh.connect_timeout + 2 * config.ssh.command_timeout
    budget += 6 * config.aws.call_budget_seconds
    return BackupManager(
        backup_store(config, aws, clock=clock),
        vyos,
        strip_sections=config.backup.strip_sections,
        interval=config.backup.interval,
        pull_timeout=max(30.0, budget),
        control=control,
        clock=clock,
        log=log,
    )


@dataclass
class BackupSide:
    """What `vpnwatch backup` needs: the two adapters and the manager."""

    aws: AwsClient
    vyos: VyosClient
    manager: BackupManager

    async def close(self) -> None:
        await self.vyos.close()
        self.aws.close()


def build_backup_side(config: Config, log: Any) -> BackupSide:
    aws = AwsClient(config.aws)
    vyos = VyosClient(config.ssh)
    return BackupSide(aws, vyos, backup_manager(config, aws, vyos, log=log))


@dataclass
class Service:
    """One process's parts; `close()` releases them all."""

    config: ConfigRef
    aws: AwsClient
    vyos: VyosClient | None
    store: StateStore
    lease: Lease
    control: ControlState
    registry: CollectorRegistry
    loop: Loop
    executor: HealExecutor | None = None
    backups: BackupManager | None = None
    state: StateBackend | None = None
    mutations: AwsClient | None = None  # the heals' own AWS client
    rehearsals: Rehearsals | None = None
    maintenance: MaintenanceWatcher | None = None
    tunnels: TunnelActor | None = None

    async def close(self) -> None:
        if self.maintenance is not None:
            await self.maintenance.close()
        if self.tunnels is not None:
            await self.tunnels.close()
        if self.rehearsals is not None:
            await self.rehearsals.close()
        if self.backups is not None:
            await self.backups.close()
        if self.executor is not None:
            await self.executor.close()
        if self.vyos is not None:
            await self.vyos.close()
        self.aws.close()
        if self.mutations is not None:
            self.mutations.close()
        if self.state is not None:  # the lease last: nothing acts once it is handed over
            self.state.close()
        else:
            self.lease.release()


def _verifier(
    config: ConfigRef, aws: AwsClient, routers: SshRouterObserver, clock: Callable[[], float]
) -> Callable[[HealTarget, str], Any]:
    async def verify(target: HealTarget, new_id: str) -> tuple[bool, str]:
        """One observation of the relaunched instance, judged without hysteresis."""
        current = config()
        site = next(s for s in current.sites if target.router in {r.name for r in s.routers})
        plan = RouterPlan(
            target.router,
            site.name,
            site.role,
            RouterSelector(target.router, target.region, new_id, None),
            SshTarget(target.router, target.ssh_host, target.ssh_port),
        )
        snap = await observe_once([plan], aws, routers, clock=clock)
        verdict = assess(snap.routers[0], site.expect.min_prefixes)
        return verdict.health is Health.HEALTHY, verdict.reason

    return verify


def build_service(
    config: Config,
    log: Any,
    *,
    registry: CollectorRegistry | None = None,
    backups: Backups | None = None,
    clock: Callable[[], float] = time.time,
    auto: bool = True,
) -> Service:
    """`auto=False`: act only on operator requests (the CLI healing by itself)."""
    ref = ConfigRef(config)
    registry = registry or CollectorRegistry()
    control = ControlState(dry_run=config.heal.dry_run)
    # Export zeros from the start so increase() sees the first failure.
    control.heal_failures = {r.name: 0 for s in config.sites for r in s.routers}
    aws_requests = AwsRequestMetrics(registry).record  # both clients' requests, one family
    aws = AwsClient(config.aws, on_request=aws_requests)
    state = open_state(config, log=log, keep=True, takeover=auto)
    store, lease = state.store, state.lease
    control.lease = lease.status
    vyos = VyosClient(config.ssh) if config.ssh.enabled else None
    manager: BackupManager | None = None
    if backups is None and vyos is not None and config.backup.enabled:
        manager = backup_manager(config, aws, vyos, control=control, clock=clock, log=log)
        backups = manager
    parts = Parts(aws=aws, routers=None, store=store, lease=lease, control=control, backups=backups)
    loop = Loop(ref, parts, log=log, clock=clock, auto=auto)
    parts.metrics = Metrics(registry, lambda: loop.latest, control)
    executor = mutations = rehearsals = None
    if vyos is not None:
        routers = SshRouterObserver(vyos, loop.host_key)
        parts.routers = routers
        if config.heal.enabled:
            mutations = AwsClient(config.aws, mutations=config.heal.aws, on_request=aws_requests)
            ec2_for = _ec2_for(mutations)
            tools = HealTools(
                ec2_for=ec2_for,
                vyos=vyos,
                backups=backups or _NoBackups(),
                verify=_verifier(ref, aws, routers, clock),
                host_key=loop.host_key,
                vpn_intent=vpn_intent_source(ref, aws),
            )
            executor = HealExecutor(
                store=store,
                lease=lease,
                tools=tools,
                config=ref,
                paused=loop.paused,
                log=log,
                on_result=control.count_heal,
                clock=clock,
            )
            parts.executor = executor
            if auto:  # the daemon; `vpnwatch heal` rehearses only when asked (--rehearse)
                rehearsals = _rehearsals(ref, ec2_for, tools, vyos, control, clock, log)
                parts.rehearsals = rehearsals
    if manager is not None:
        parts.after_cycle = _backups_after_cycle(ref, manager, clock)
        # every backup pull also compares the router's VPN config with AWS (observation)
        drift = VpnDriftWatch(ref, aws, control=control, clock=clock, log=log)
        manager.on_pulled = drift.check
        parts.vpn_drift = drift
        parts.on_leading = _reload_backups(ref, manager)
    watcher, actor = _maintenance(ref, aws, vyos, parts, loop, control, log, clock, auto)
    return Service(
        ref, aws, vyos, store, lease, control, registry, loop, executor, manager,
        state=state, mutations=mutations, rehearsals=rehearsals, maintenance=watcher,
        tunnels=actor,
    )  # fmt: skip


def _maintenance(
    config: ConfigRef,
    aws: AwsClient,
    vyos: VyosClient | None,
    parts: Parts,
    loop: Loop,
    control: ControlState,
    log: Any,
    clock: Callable[[], float],
    auto: bool,
) -> tuple[MaintenanceWatcher | None, TunnelActor | None]:
    """AWS's tunnel maintenance (issue 12): the background reader (the daemon only: a CLI
    acting once does not sweep every tunnel) and what carries out tunnel actions."""
    if not auto:
        return None, None
    api = VpnMaintenanceApi(aws)
    watcher = MaintenanceWatcher(api, config, log=log, clock=clock)
    parts.maintenance = watcher
    registry = parts.metrics.registry if parts.metrics is not None else None
    if registry is not None:
        registry.register(MaintenanceCollector(lambda: loop.latest, watcher.view, config))
    actor = None
    if vyos is not None and config().heal.enabled:
        actor = TunnelActor(
            store=parts.store,
            lease=parts.lease,
            vyos=vyos,
            api=api,
            book=watcher,
            host_key=loop.host_key,
            paused=loop.paused,
            log=log,
            on_result=control.count_heal,
            clock=clock,
        )
        parts.tunnels = actor
    return watcher, actor


def _reload_backups(config: ConfigRef, manager: BackupManager) -> Callable[[], Awaitable[None]]:
    async def reload() -> None:
        """A standby that takes over restores from what the old leader stored."""
        await manager.load([r.name for s in config().sites for r in s.routers])

    return reload


def _ec2_for(mutations: AwsClient) -> Callable[[str], Ec2Actions]:
    return lambda region: Ec2Actions(mutations, region)


def _rehearser(
    config: ConfigRef,
    ec2_for: Callable[[str], Ec2Actions],
    backups: Backups,
    vyos: VyosClient | None,
    clock: Callable[[], float],
    vpn_intent: VpnIntentSource | None,
) -> Callable[[str, RouterAwsView], Awaitable[Rehearsal]]:
    def run(router: str, view: RouterAwsView) -> Awaitable[Rehearsal]:
        current = config()
        instance_id = view.instance.instance_id if view.instance else None
        source = vpn_intent if current.heal.seed_vpn_config else None
        seed = partial(source, router, view.region, instance_id) if source else None
        return rehearse(
            current, router, view, ec2_for=ec2_for, backups=backups,
            public_key=vyos.public_key_line() if vyos is not None else "", clock=clock,
            seed=seed,
        )  # fmt: skip

    return run


def _rehearsals(
    config: ConfigRef,
    ec2_for: Callable[[str], Ec2Actions],
    tools: HealTools,
    vyos: VyosClient,
    control: ControlState,
    clock: Callable[[], float],
    log: Any,
) -> Rehearsals:
    return Rehearsals(
        _rehearser(config, ec2_for, tools.backups, vyos, clock, tools.vpn_intent),
        interval=lambda: config().heal.rehearsal_interval,
        deadline=lambda: config().heal.timeouts.api,
        control=control,
        clock=clock,
        log=log,
    )


@dataclass
class RehearsalSide:
    """What `vpnwatch heal --rehearse` needs: the poll client to find the router, the
    mutation client to rehearse with, the stored backups."""

    config: Config
    aws: AwsClient
    mutations: AwsClient
    vyos: VyosClient | None
    backups: BackupManager | None
    clock: Callable[[], float]

    async def rehearse(self, router: str) -> Rehearsal:
        config = self.config
        state = open_state(config)  # read only: the file store or the pair's table
        try:
            fleet = state.store.read(Mode.of(config.heal.dry_run)).fleet
        finally:
            if state.aws is not None:
                state.aws.close()
        (plan,) = [p for p in plan_routers(config, fleet.instances) if p.name == router]
        observed = await self.aws.observe([plan.selector])
        if self.backups is not None:
            await self.backups.load([router])
        run = _rehearser(
            ConfigRef(config), _ec2_for(self.mutations), self.backups or _NoBackups(),
            self.vyos, self.clock, vpn_intent_source(lambda: config, self.aws),
        )  # fmt: skip
        return await run(router, observed.views[router])

    async def close(self) -> None:
        if self.backups is not None:
            await self.backups.close()
        if self.vyos is not None:
            await self.vyos.close()
        self.aws.close()
        self.mutations.close()


def build_rehearsal_side(config: Config, log: Any) -> RehearsalSide:
    aws = AwsClient(config.aws)
    vyos = VyosClient(config.ssh) if config.ssh.enabled else None
    manager = None
    if vyos is not None and config.backup.enabled:
        manager = backup_manager(config, aws, vyos, log=log)
    mutations = AwsClient(config.aws, mutations=config.heal.aws)
    return RehearsalSide(config, aws, mutations, vyos, manager, time.time)


def _backups_after_cycle(
    config: ConfigRef, manager: BackupManager, clock: Callable[[], float]
) -> Callable[[CycleResult, Stored], None]:
    def pull_due(result: CycleResult, stored: Stored) -> None:
        views = {o.name: o.aws for o in result.snapshot.routers}
        plans = plan_routers(config(), stored.fleet.instances)
        targets, _ = backup_targets(plans, views, stored.fleet.host_keys)
        manager.run_due(clock(), targets)

    return pull_due
