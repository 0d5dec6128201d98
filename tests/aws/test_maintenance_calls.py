"""AWS calls per cycle stay constant as tunnels grow (issue 12): 16 and 160 tunnels.

The real daemon parts (AWS adapter, loop, maintenance watcher) against the emulated AWS over
HTTP, counted by the daemon's own `vpnwatch_aws_requests_total`. Every tunnel's replacement
status is read once by the slow sweep, in the background; the cycles themselves make the same
few calls per region whatever the number of tunnels.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from vpnwatch.configfile import load_config
from vpnwatch.lab.topology import ARTICLE_SITES, SiteSpec
from vpnwatch.lab.world import LabWorld
from vpnwatch.logs import get_logger
from vpnwatch.service.wiring import build_service

STATUS = "GetVpnTunnelReplacementStatus"


def sites(spokes: int) -> tuple[SiteSpec, ...]:
    """The article's hub and `spokes` spokes: 8 tunnels per spoke (4 to its routers, 4 back)."""
    hub = ARTICLE_SITES[0]
    return (
        hub,
        *(
            SiteSpec(f"spoke{n}", "spoke", f"10.{n}.0.0/16", 64512 + n)
            for n in range(1, spokes + 1)
        ),
    )


def requests(registry: CollectorRegistry) -> Counter[str]:
    counts: Counter[str] = Counter()
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for s in family.samples:
            if s.name == "vpnwatch_aws_requests_total":
                assert s.labels["outcome"] == "ok", s
                counts[s.labels["action"]] += int(s.value)
    return counts


async def calls_per_cycle(
    tmp_path: Path, spokes: int, cycles: int = 4
) -> tuple[int, list[Counter[str]]]:
    world = LabWorld(tmp_path / "world", sites=sites(spokes), routers=False)
    world.start()
    try:
        config = load_config(
            world.write_config(),
            environ={
                "VPNWATCH_STATE_DIR": str(tmp_path / "state"),
                "VPNWATCH_MAINTENANCE__CALLS_PER_SECOND": "100",
                "VPNWATCH_MAINTENANCE__MAX_CONCURRENCY": "8",
                # a loaded test machine must not time a request out: a retry is a call more
                "VPNWATCH_AWS__READ_TIMEOUT": "20",
                "VPNWATCH_HEALTH__INTERVAL": "60",
            },
        )
        tunnels = len(world.topology.tunnels)
        registry = CollectorRegistry()
        service = build_service(config, get_logger("test"), registry=registry)
        assert service.maintenance is not None
        per_cycle = []
        try:
            for _ in range(cycles):
                before = requests(registry)
                await service.loop.run_cycle()
                await service.maintenance.wait_idle()
                per_cycle.append(requests(registry) - before)
        finally:
            await service.close()
        return tunnels, per_cycle
    finally:
        world.stop()


async def test_aws_calls_per_cycle_do_not_grow_with_the_tunnels(tmp_path: Path) -> None:
    small, small_cycles = await calls_per_cycle(tmp_path / "small", spokes=2)
    large, large_cycles = await calls_per_cycle(tmp_path / "large", spokes=20)
    assert (small, large) == (16, 160)
    # the first cycle starts the slow sweep: every tunnel's status, once
    assert small_cycles[0][STATUS] == 16 and large_cycles[0][STATUS] == 160
    # every cycle after it: the same few calls per region, none per tunnel
    steady_small, steady_large = small_cycles[1:], large_cycles[1:]
    assert all(STATUS not in c for c in steady_small + steady_large)
    assert steady_small == steady_large
    assert sum(steady_small[0].values()) == 5  # instances, status, addresses, CGWs, VPNs
    first_small = small_cycles[0] - Counter({STATUS: 16})
    first_large = large_cycles[0] - Counter({STATUS: 160})
    assert first_small == first_large == steady_small[0]
