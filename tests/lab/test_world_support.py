"""Helpers for the LabWorld tests with simulated routers: SSH access as the daemon has it,
tunnel statuses as DescribeVpnConnections reports them, polls with a timeout."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from vpnwatch.adapters.vyos import RouterEndpoint, VyosClient
from vpnwatch.config import SshConfig
from vpnwatch.lab.world import LabWorld

T = TypeVar("T")


def vyos_client(world: LabWorld) -> VyosClient:
    """The daemon's SSH client with the world's key and known_hosts."""
    settings = SshConfig(
        user="vyos",
        key_file=world.client_key_file,
        known_hosts=world.known_hosts_file,
        connect_timeout=3.0,
        command_timeout=5.0,
        keepalive_interval=10.0,
        max_concurrency=16,
        max_output_bytes=1 << 20,
        reconnect_backoff_initial=0.0,
        reconnect_backoff_max=0.0,
    )
    return VyosClient(settings)


def endpoint(world: LabWorld, name: str, trusted_key: str | None = None) -> RouterEndpoint:
    host, port = world.router_endpoint(name)
    return RouterEndpoint(name, host, port, trusted_host_keys=(trusted_key,) if trusted_key else ())


def tunnel_statuses(ec2: Any) -> dict[str, str]:
    """Outside IP → VgwTelemetry status of every tunnel (describing also refreshes them)."""
    described = ec2.describe_vpn_connections()["VpnConnections"]
    return {t["OutsideIpAddress"]: t["Status"] for c in described for t in c["VgwTelemetry"]}


def outside_ips(world: LabWorld, router: str) -> set[str]:
    return {t.outside_ip for c in world.topology.connections_of(router) for t in c.tunnels}


def statuses_of(ec2: Any, world: LabWorld, router: str) -> set[str]:
    mine = outside_ips(world, router)
    return {s for ip, s in tunnel_statuses(ec2).items() if ip in mine}


def error_of(call: Callable[[], Any]) -> tuple[str, int]:
    """(code, HTTP status) of the ClientError the call raises."""
    try:
        call()
    except Exception as exc:  # botocore's ClientError, without importing botocore here
        response = getattr(exc, "response", None)
        if response is None:
            raise
        return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError("the call succeeded")


async def until(what: str, probe: Callable[[], Awaitable[T | None]], timeout: float = 15.0) -> T:
    """Poll `probe` until it returns something truthy, or fail saying what never happened."""
    deadline = time.monotonic() + timeout
    while True:
        result = await probe()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
