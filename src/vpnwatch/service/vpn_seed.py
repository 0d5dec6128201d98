"""One router's render input, read from AWS at the moment it is needed: what a replacement
seeds its twin's user data with (`heal.seed_vpn_config`), and what a rehearsal checks.

One observation of the router (its instance, its EIP, its connections) and the region's
VPN facts: a few read-only calls, only when a replacement or a rehearsal runs. Raises a
VpnwatchError (RenderInputError, RenderConfigError, AwsCallFailed) when it cannot be had;
the preflight then says "not seeded" and goes on.
"""

from __future__ import annotations

from collections.abc import Callable

from vpnwatch.adapters.aws import AwsCallFailed, AwsClient
from vpnwatch.adapters.vpn_facts import region_facts
from vpnwatch.config import Config
from vpnwatch.discovery import RouterSelector
from vpnwatch.heal.executor import VpnIntentSource
from vpnwatch.render.assemble import router_intent
from vpnwatch.render.model import RenderConfigError, RouterIntent
from vpnwatch.render.present import site_intents


def vpn_intent_source(config: Callable[[], Config], aws: AwsClient) -> VpnIntentSource:
    async def intent(router: str, region: str, instance_id: str | None) -> RouterIntent:
        current = config()
        site = next(s for s in current.sites if router in {r.name for r in s.routers})
        sites = site_intents(current)
        if site.vpn is None:
            raise RenderConfigError([f"site {site.name!r}: no vpn section (vpn.vpc_cidr)"])
        observed = await aws.observe([RouterSelector(router, region, instance_id, None)])
        view = observed.views[router]
        if view.error:
            raise AwsCallFailed(f"router {router}: {view.error}")
        facts = await region_facts(aws, region, [view])
        asn = site.vpn.bgp_asn
        return router_intent(facts[router], sites[site.name], list(sites.values()), asn)

    return intent
