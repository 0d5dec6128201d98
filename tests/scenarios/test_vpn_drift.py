"""VPN config drift on the daemon's backup pulls, end to end (issue 14): a daemon process
against the emulated world whose routers were configured from `vpnwatch render`.

A matching router exports 0 for every section; a key AWS rotates (ModifyVpnTunnelOptions)
shows as `peer` drift on the next pull, named in the reason line; no key, old or new, ever
appears in the daemon's log, its metrics or its reasons. Drift is observation only.
"""

from __future__ import annotations

import asyncio
import json
import math
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.scenarios.harness import Scenario, audit_entries, wait_for
from vpnwatch.adapters.aws import AwsClient
from vpnwatch.adapters.vyos import VyosClient
from vpnwatch.commands.render import render_routers
from vpnwatch.commands.render_inputs import endpoints, fetch_aws
from vpnwatch.config import Config
from vpnwatch.configfile import load_config
from vpnwatch.lab.clients import lab_client
from vpnwatch.observe import plan_routers
from vpnwatch.render import SECTIONS

pytestmark = pytest.mark.e2e

POLICY = Path(__file__).resolve().parents[2] / "deploy" / "iam" / "policy.json"
ROUTER = "spoke1-r1"
ROUTERS = ("hub-r1", "hub-r2", "spoke1-r1", "spoke1-r2", "spoke2-r1", "spoke2-r2")
NEW_KEY = "Rotated.by_aws_0002"


def _configure_from_render(config: Config) -> None:
    """What an operator does once: apply `vpnwatch render`'s commands to every router."""

    async def run() -> None:
        outcomes = await render_routers(config, None, None, False)
        aws, client = AwsClient(config.aws), VyosClient(config.ssh)
        try:
            plans = plan_routers(config)
            where = endpoints(plans, (await fetch_aws(aws, plans)).views, {})
            for o in outcomes:
                await client.run_config(where[o.rendered.name], o.rendered.commands)
        finally:
            await client.close()
            aws.close()

    asyncio.run(run())


@pytest.fixture(scope="module")
def drifting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    s = Scenario(
        tmp_path_factory.mktemp("drift") / "s",
        dry_run=True,
        env={"VPNWATCH_BACKUP__INTERVAL": "60"},  # the shortest the config allows
        # the daemon's reads for the drift check are allowed by the deploy IAM policy
        world_options={"blank_routers": True, "iam_policy": POLICY},
    )
    try:
        s.world.start()
        path = s.world.write_config()
        _configure_from_render(load_config(path))
        assert s.world.routers.wait_established(timeout=60)
        s.config = path
        s.restart_daemon()
        yield s
    finally:
        s.stop()


def _drift(s: Scenario, router: str) -> dict[str, float]:
    return {sec: s.metric(f'vpnwatch_vpn_config_drift{{router="{router}",section="{sec}"}}')
            for sec in SECTIONS}  # fmt: skip


def _all_keys(s: Scenario) -> list[str]:
    keys = [t.psk for r in ROUTERS for c in s.world.topology.connections_of(r) for t in c.tunnels]
    return [*keys, NEW_KEY]


def _metrics_text(s: Scenario) -> str:
    assert s.daemon is not None
    url = f"http://127.0.0.1:{s.daemon.port()}/metrics"
    with urllib.request.urlopen(url, timeout=5) as resp:
        return str(resp.read().decode())


def test_routers_configured_from_render_show_no_drift(drifting: Scenario) -> None:
    s = drifting
    wait_for(
        "a drift result for every router",
        lambda: all(not math.isnan(_drift(s, r)["peer"]) for r in ROUTERS),
        timeout=120,
    )
    for router in ROUTERS:
        assert set(_drift(s, router).values()) == {0.0}, (router, _drift(s, router))
    assert not any("VPN config" in r or "VPN drift" in r for r in s.reasons()[-3:])


def test_a_key_rotated_by_aws_is_peer_drift_on_the_next_pull(drifting: Scenario) -> None:
    s = drifting
    connection = s.world.topology.connections_of(ROUTER)[0]
    tunnel = connection.tunnels[0]
    lab_client("ec2", s.world.endpoint_url).modify_vpn_tunnel_options(
        VpnConnectionId=connection.id,
        VpnTunnelOutsideIpAddress=tunnel.outside_ip,
        TunnelOptions={"PreSharedKey": NEW_KEY},
    )
    # the next scheduled pull (backup.interval 60 s) finds it
    reason = s.wait_reason(
        lambda r: f"VPN config differs from AWS on {ROUTER} (peer)" in r, timeout=150, after=True
    )
    drift = _drift(s, ROUTER)
    assert [k for k, v in drift.items() if v == 1.0] == ["peer"]
    assert set(drift.values()) == {0.0, 1.0}  # every other section exported, and 0
    assert set(_drift(s, "spoke1-r2").values()) == {0.0}  # the other router still matches
    # observation only: nothing acted on, not even "would have"
    assert audit_entries(s) == []
    assert not any(e.get("event") == "heal started" for e in s.logs())
    # no key, old or new, in the reason, the metrics or anything the daemon printed
    assert s.daemon is not None
    printed = s.daemon.log_path.read_text() + _metrics_text(s) + reason
    leaked = [k for k in _all_keys(s) if k in printed]
    assert leaked == []
    warned = [e for e in s.logs() if e.get("event") == "vpn config drift"]
    assert warned and warned[-1]["router"] == ROUTER
    assert "peer" in json.dumps(warned[-1])
