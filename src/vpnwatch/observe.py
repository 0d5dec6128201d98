"""One observation cycle: AWS (per region) and every router (over SSH), concurrently."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from vpnwatch.config import Config
from vpnwatch.discovery import ObservedAws, RouterSelector
from vpnwatch.model import RouterAwsView, RouterObservation, RouterSshView, Snapshot


class AwsObserver(Protocol):
    async def observe(self, selectors: Sequence[RouterSelector]) -> ObservedAws: ...


@dataclass(frozen=True)
class SshTarget:
    name: str
    host: str | None  # None: use the router's EIP from the AWS view
    port: int


class RouterObserver(Protocol):
    async def observe_router(self, target: SshTarget, aws: RouterAwsView) -> RouterSshView: ...


@dataclass(frozen=True)
class RouterPlan:
    name: str
    site: str
    role: str
    selector: RouterSelector
    ssh: SshTarget | None


def plan_routers(
    config: Config, instance_overrides: Mapping[str, str] | None = None
) -> tuple[RouterPlan, ...]:
    """`instance_overrides`: routers replaced by a heal now live on another instance."""
    overrides = instance_overrides or {}
    plans = []
    for site in config.sites:
        region = config.region_of(site)
        for router in site.routers:
            instance_id = router.instance_id
            if instance_id is not None and router.name in overrides:
                instance_id = overrides[router.name]
            selector = RouterSelector(router.name, region, instance_id, router.tags)
            ssh = (
                SshTarget(router.name, router.ssh_host, router.ssh_port or config.ssh.port)
                if config.ssh.enabled
                else None
            )
            plans.append(RouterPlan(router.name, site.name, site.role, selector, ssh))
    return tuple(plans)


async def observe_once(
    plans: Sequence[RouterPlan],
    aws: AwsObserver,
    routers: RouterObserver | None,
    *,
    clock: Callable[[], float],
) -> Snapshot:
    """AWS first (the router's EIP is the default SSH host), then all routers at once."""
    started = clock()
    aws_result = await aws.observe([p.selector for p in plans])
    views: dict[str, RouterAwsView] = dict(aws_result.views)
    for p in plans:
        views.setdefault(
            p.name, RouterAwsView(p.name, p.selector.region, None, None, (), error="not observed")
        )

    async def one(plan: RouterPlan) -> RouterSshView | None:
        if plan.ssh is None or routers is None:
            return None
        return await routers.observe_router(plan.ssh, views[plan.name])

    ssh_views = await asyncio.gather(*(one(p) for p in plans))
    observations = tuple(
        RouterObservation(p.name, p.site, p.role, views[p.name], s)
        for p, s in zip(plans, ssh_views, strict=True)
    )
    return Snapshot(
        taken_at=started,
        duration_seconds=clock() - started,
        routers=observations,
        errors=aws_result.errors,
    )
