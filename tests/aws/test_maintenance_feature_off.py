"""AWS refuses the maintenance API: the feature turns off, said once (issue 12).

The real daemon parts (AWS adapter over HTTP, loop, maintenance watcher) against the emulated
AWS, which answers GetVpnTunnelReplacementStatus with AWS's error codes: the watcher turns
maintenance awareness off with one log line naming the reason, makes no status calls in the
cycles after it (no errors every cycle), and the cycles themselves go on as before.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from structlog.testing import capture_logs

from vpnwatch.configfile import load_config
from vpnwatch.lab.topology import ARTICLE_SITES
from vpnwatch.lab.world import LabWorld
from vpnwatch.logs import get_logger
from vpnwatch.service.wiring import build_service

STATUS = "GetVpnTunnelReplacementStatus"
OFF = "AWS tunnel maintenance status unavailable: maintenance awareness off"


def status_requests(registry: CollectorRegistry) -> Counter[str]:
    """vpnwatch_aws_requests_total of the status call, by outcome."""
    counts: Counter[str] = Counter()
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for s in family.samples:
            if s.name == "vpnwatch_aws_requests_total" and s.labels["action"] == STATUS:
                counts[s.labels["outcome"]] += int(s.value)
    return counts


@pytest.mark.parametrize(
    ("code", "status"),
    [("UnauthorizedOperation", 403), ("UnsupportedOperation", 400)],
)
async def test_a_refused_status_call_turns_the_feature_off_once(
    tmp_path: Path, code: str, status: int
) -> None:
    world = LabWorld(tmp_path / "world", sites=ARTICLE_SITES[:2], routers=False)
    world.start()
    try:
        world.aws.add_fault(STATUS, code, status, count=-1)
        config = load_config(
            world.write_config(),
            environ={
                "VPNWATCH_STATE_DIR": str(tmp_path / "state"),
                "VPNWATCH_MAINTENANCE__CALLS_PER_SECOND": "100",
                "VPNWATCH_AWS__READ_TIMEOUT": "20",  # no timeouts on a loaded machine
                "VPNWATCH_HEALTH__INTERVAL": "60",
            },
        )
        registry = CollectorRegistry()
        with capture_logs() as logs:
            service = build_service(config, get_logger("test"), registry=registry)
            watcher = service.maintenance
            assert watcher is not None
            try:
                reasons = []
                for _ in range(5):
                    reasons.append((await service.loop.run_cycle()).reason)
                    await watcher.wait_idle()
                    if _ == 0:
                        assert watcher.off is not None and code in watcher.off
                        refused = status_requests(registry)
                assert status_requests(registry) == refused  # nothing after the first sweep
                assert refused["error"] >= 1 and set(refused) == {"error"}
                assert watcher.view() == {}
            finally:
                await service.close()
    finally:
        world.stop()
    said = [e for e in logs if e["event"] == OFF]
    assert len(said) == 1, said
    assert code in said[0]["why"]
    assert "ec2:GetVpnTunnelReplacementStatus" in said[0]["hint"]
    # nothing else complains about it, and nothing in the cycles says it is broken
    assert [e for e in logs if "maintenance status unread" in str(e["event"])] == []
    assert all(code not in str(r) for r in reasons)
