"""Wiring: real adapters + daemon + metrics server. The only place that builds adapters."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry

from vpnwatch import __version__
from vpnwatch.adapters.aws import AwsClient, AwsSettings
from vpnwatch.config import Config, redacted
from vpnwatch.daemon import Daemon, install_signal_handlers
from vpnwatch.httpserver import MetricsServer
from vpnwatch.metrics import ControlState, CycleResult, Metrics
from vpnwatch.model import RouterAwsView, RouterSshView
from vpnwatch.observe import RouterObserver, SshTarget


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


class SshRouterObserver:
    """Adapts the VyOS adapter to the observer protocol (default host: the router's EIP)."""

    def __init__(self, config: Config) -> None:
        from vpnwatch.adapters.vyos import SshSettings, VyosClient

        s = config.ssh
        assert s.key_file is not None and s.known_hosts is not None  # enforced by the config
        self.client = VyosClient(
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

    async def observe_router(self, target: SshTarget, aws: RouterAwsView) -> RouterSshView:
        from vpnwatch.adapters.vyos import RouterEndpoint
        from vpnwatch.model import SshErrorKind

        host = target.host or aws.elastic_ip
        if host is None:
            return RouterSshView(
                target.name,
                reachable=False,
                error="no ssh_host and no EIP known",
                error_kind=SshErrorKind.UNREACHABLE,
            )
        view: RouterSshView = await self.client.observe(
            RouterEndpoint(target.name, host, target.port)
        )
        return view

    async def close(self) -> None:
        await self.client.close()


@dataclass
class Runtime:
    daemon: Daemon
    aws: AwsClient
    routers: SshRouterObserver | None
    registry: CollectorRegistry

    async def close(self) -> None:
        if self.routers is not None:
            await self.routers.close()
        self.aws.close()


def build_runtime(
    config: Config, log: Any, *, registry: CollectorRegistry | None = None
) -> Runtime:
    registry = registry or CollectorRegistry()
    control = ControlState()
    aws = AwsClient(aws_settings(config))
    routers = SshRouterObserver(config) if config.ssh.enabled else None
    holder: dict[str, Daemon] = {}

    def latest() -> CycleResult | None:
        return holder["d"].latest if "d" in holder else None

    metrics = Metrics(registry, latest, control)
    observer: RouterObserver | None = routers
    daemon = Daemon(config, aws=aws, routers=observer, metrics=metrics, control=control, log=log)
    holder["d"] = daemon
    return Runtime(daemon, aws, routers, registry)


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
    install_signal_handlers(stop)
    try:
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
    try:
        return await runtime.daemon.run_cycle()
    finally:
        await runtime.close()
