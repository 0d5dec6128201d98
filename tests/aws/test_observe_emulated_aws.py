"""The AWS adapter, discovery, health and metrics against the emulated AWS over real HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from vpnwatch.commands.check import exit_code
from vpnwatch.commands.check import to_json as as_json
from vpnwatch.config import Config
from vpnwatch.configfile import load_config
from vpnwatch.lab.world import LabWorld
from vpnwatch.logs import get_logger
from vpnwatch.service.wiring import build_service
from vpnwatch.vocabulary import Health, TunnelStatus


def config_for(world: LabWorld, tmp_path: Path, **env: str) -> Config:
    path = world.write_config()
    environ = {"VPNWATCH_STATE_DIR": str(tmp_path), **env}
    return load_config(path, environ=environ)


async def one_cycle(config: Config):  # type: ignore[no-untyped-def]
    registry = CollectorRegistry()
    service = build_service(config, get_logger("test"), registry=registry)
    try:
        result = await service.loop.run_cycle()
    finally:
        await service.close()
    return result, generate_latest(registry).decode()


@pytest.fixture(autouse=True)
def _clean_world(lab_world: LabWorld) -> None:
    lab_world.aws.clear_faults()
    for conn in lab_world.topology.connections:
        for tunnel in conn.tunnels:
            lab_world.aws.set_tunnel(conn.id, tunnel.outside_ip, "UP")


async def test_discovery_finds_every_router_connection_and_tunnel(
    lab_world: LabWorld, tmp_path: Path
) -> None:
    result, _ = await one_cycle(config_for(lab_world, tmp_path))
    data = as_json(result)
    assert len(data["routers"]) == 6 and len(data["tunnels"]) == 16
    topo = lab_world.topology
    for obs in result.snapshot.routers:
        want = sorted(c.id for c in topo.connections_of(obs.name))
        assert sorted(c.vpn_connection_id for c in obs.aws.connections) == want
        assert obs.aws.instance is not None
        assert obs.aws.instance.instance_id == topo.router(obs.name).instance_id
        assert obs.aws.elastic_ip == topo.router(obs.name).public_ip
        for conn in obs.aws.connections:
            truth = next(c for c in topo.connections if c.id == conn.vpn_connection_id)
            assert [(t.outside_ip, t.aws_inside_ip) for t in conn.tunnels] == [
                (t.outside_ip, t.aws_inside_ip) for t in truth.tunnels
            ]
    hub = next(o for o in result.snapshot.routers if o.name == "hub-r1")
    assert len(hub.aws.tunnels) == 4  # two connections, one from each spoke gateway
    assert all(v.health is Health.HEALTHY for v in result.verdicts)
    assert exit_code(result) == 0
    assert result.reason == "no action: 6/6 routers healthy"


async def test_a_tunnel_set_down_is_zero_in_metrics_and_check(
    lab_world: LabWorld, tmp_path: Path
) -> None:
    conn = lab_world.topology.connections_of("spoke1-r1")[0]
    down = conn.tunnels[1].outside_ip
    lab_world.aws.set_tunnel(conn.id, down, "DOWN")
    result, text = await one_cycle(config_for(lab_world, tmp_path))
    line = (
        f'vpnwatch_tunnel_up{{router="spoke1-r1",tunnel_outside_ip="{down}",'
        f'vpn_connection_id="{conn.id}"}} 0.0'
    )
    assert line in text
    tunnel = next(t for t in as_json(result)["tunnels"] if t["outside_ip"] == down)
    assert tunnel["status"] == "DOWN" and tunnel["accepted_routes"] == 0
    verdict = next(v for v in result.verdicts if v.router == "spoke1-r1")
    assert verdict.health is Health.DEGRADED
    assert exit_code(result) == 1
    assert "spoke1-r1 degraded" in result.reason


async def test_throttling_twice_is_retried_and_the_cycle_succeeds(
    lab_world: LabWorld, tmp_path: Path
) -> None:
    lab_world.aws.add_fault("DescribeVpnConnections", code="RequestLimitExceeded", count=2)
    config = config_for(
        lab_world,
        tmp_path,
        VPNWATCH_AWS__MAX_ATTEMPTS="3",
        VPNWATCH_AWS__RETRY_BACKOFF="0.05",
        VPNWATCH_HEALTH__INTERVAL="10",
    )
    result, _ = await one_cycle(config)
    assert all(v.health is Health.HEALTHY for v in result.verdicts), result.reason
    assert not result.snapshot.errors
    assert lab_world.aws.faults() == [] or all(f.count == 0 for f in lab_world.aws.faults())


async def test_aws_unavailable_makes_the_region_unknown_never_down(
    lab_world: LabWorld, tmp_path: Path
) -> None:
    lab_world.aws.add_fault(
        "DescribeVpnConnections", code="ServiceUnavailable", status=503, count=-1
    )
    result, text = await one_cycle(config_for(lab_world, tmp_path))
    assert {v.health for v in result.verdicts} == {Health.UNKNOWN}
    assert result.tunnels == ()  # nothing claimed DOWN
    assert "vpnwatch_tunnel_up{" not in text
    assert 'vpnwatch_poll_errors_total{source="aws"} 1.0' in text
    assert "ServiceUnavailable" in result.snapshot.errors[0][1]
    assert all(t.status is not TunnelStatus.DOWN for t in result.tunnels)


async def test_a_host_key_mismatch_is_refused_counted_and_never_failed(
    lab_world: LabWorld, tmp_path: Path
) -> None:
    import asyncssh

    host, port = lab_world.router_endpoint("spoke1-r1")
    impostor = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    lines = [
        ln
        for ln in lab_world.known_hosts_file.read_text().splitlines()
        if not ln.startswith(f"[{host}]:{port} ")
    ]
    known = tmp_path / "known_hosts"
    known.write_text("\n".join([*lines, f"[{host}]:{port} {impostor}"]) + "\n")
    result, text = await one_cycle(
        config_for(lab_world, tmp_path, VPNWATCH_SSH__KNOWN_HOSTS=str(known))
    )
    verdict = next(v for v in result.verdicts if v.router == "spoke1-r1")
    assert verdict.health is Health.UNKNOWN and "host-key" in verdict.reason
    assert 'vpnwatch_poll_errors_total{source="hostkey"} 1.0' in text
    others = [v for v in result.verdicts if v.router != "spoke1-r1"]
    assert {v.health for v in others} == {Health.HEALTHY}
