"""Two-sided health on real FRR + strongSwan routers: all up → healthy; the peer's charon
stopped → IPsec down, then BGP down after the hold time → failed (after the hysteresis)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator

import pytest

from tests.integration.netns_lab import HOLD, INSIDE, NetnsLab
from tests.integration.test_real_routers import (
    AWS_SIDE,
    bgp_established,
    endpoint,
    ipsec_up,
    observe_until,
    settings,
)
from vpnwatch.adapters.vyos import VyosClient
from vpnwatch.model import RouterAwsView, RouterSshView
from vpnwatch.parsers import parse_bgp_summary

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture
async def client(netns_lab: NetnsLab) -> AsyncIterator[VyosClient]:
    vyos = VyosClient(settings(netns_lab))
    try:
        yield vyos
    finally:
        await vyos.close()


def aws_view_from_peer(lab: NetnsLab) -> RouterAwsView:
    """What AWS's telemetry would say, read from the real peer (r2 plays the VGW): UP when
    its BGP session to r1 is Established with a prefix, as AWS reports BGP VPN tunnels."""
    from vpnwatch.model import InstanceInfo, TunnelInfo, TunnelTelemetry, VpnConnectionInfo
    from vpnwatch.vocabulary import TunnelStatus

    try:
        peer = parse_bgp_summary(lab.vtysh("r2", "show ip bgp summary json"))
        (n,) = [x for x in peer.neighbors if x.neighbor == INSIDE["r1"]]
        up = n.established and (n.prefixes_received or 0) >= 1
    except Exception:  # r2's bgpd gone or talking nonsense: AWS would say DOWN
        up = False
    outside = "198.18.0.2"
    tunnel = TunnelInfo("vpn-0000000000000000a", outside, "169.254.10.0/30", AWS_SIDE, INSIDE["r1"])
    telemetry = TunnelTelemetry(
        "vpn-0000000000000000a",
        outside,
        TunnelStatus.UP if up else TunnelStatus.DOWN,
        "1 BGP ROUTES" if up else "IPSEC IS DOWN",
        1 if up else 0,
        None,
    )
    conn = VpnConnectionInfo(
        "vpn-0000000000000000a",
        "available",
        "cgw-1",
        "198.18.0.1",
        "vgw-1",
        (tunnel,),
        (telemetry,),
    )
    instance = InstanceInfo("i-0000000000000001", "running", "198.18.0.1", None, None, False)
    return RouterAwsView("r1", "us-east-1", instance, "198.18.0.1", (conn,))


async def test_two_sided_health_on_real_daemons(netns_lab: NetnsLab, client: VyosClient) -> None:
    """All up → healthy; the peer's charon stopped → IPsec down, then BGP down → failed."""
    from vpnwatch.config import HealthConfig
    from vpnwatch.core.health import evaluate
    from vpnwatch.core.memory import RouterHistory
    from vpnwatch.model import RouterObservation, Snapshot
    from vpnwatch.vocabulary import Health

    settings_ = HealthConfig(failures=2, min_failed_seconds=0.0)
    histories: dict[str, RouterHistory] = {}
    router = endpoint(netns_lab)
    view = await observe_until(client, router, lambda v: bgp_established(v) and ipsec_up(v), 30)

    def judge(ssh: RouterSshView, now: float) -> Health:
        nonlocal histories
        obs = RouterObservation("r1", "hub", "hub", aws_view_from_peer(netns_lab), ssh)
        verdicts, histories = evaluate(Snapshot(now, 0.0, (obs,)), histories, now, settings_, {})
        return verdicts[0].health

    assert judge(view, 0.0) is Health.HEALTHY
    await asyncio.to_thread(netns_lab.stop, "r2", "charon", signal.SIGTERM)
    view = await observe_until(client, router, lambda v: not bgp_established(v), HOLD + 15)
    assert judge(view, 1.0) is not Health.HEALTHY  # first failed cycle: hysteresis holds
    view = await client.observe(router)
    assert judge(view, 2.0) is Health.FAILED
