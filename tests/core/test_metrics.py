from __future__ import annotations

import asyncio
import shutil
import subprocess

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.core.builders import aws_view, observation, snapshot, ssh_view
from vpnwatch.config import HealthConfig
from vpnwatch.core.cycle import CycleResult
from vpnwatch.core.decision import Decision
from vpnwatch.core.health import evaluate, tunnel_verdicts
from vpnwatch.httpserver import MetricsServer
from vpnwatch.metrics import ControlState, Metrics
from vpnwatch.vocabulary import SshErrorKind


def cycle() -> CycleResult:
    snap = snapshot(
        observation("hub-r1", aws_view("hub-r1"), ssh_view("hub-r1")),
        observation(
            "hub-r2",
            aws_view("hub-r2", ("UP", "DOWN")),
            ssh_view("hub-r2", (True, False), (True, False)),
        ),
        observation(
            "spoke1-r1",
            aws_view("spoke1-r1"),
            ssh_view("spoke1-r1", error_kind=SshErrorKind.PARSE),
            site="spoke1",
        ),
    )
    verdicts, _ = evaluate(snap, {}, 1000.0, HealthConfig(failures=3, min_failed_seconds=10), {})
    return CycleResult(
        snap, verdicts, tunnel_verdicts(snap), Decision(), "no action", finished_at=1000.5
    )


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_collector_renders_the_latest_cycle() -> None:
    registry = CollectorRegistry()
    latest: list[CycleResult | None] = [None]
    Metrics(registry, lambda: latest[0], ControlState())
    before = samples(registry)
    assert not any(name == "vpnwatch_tunnel_up" for name, _ in before)
    assert before[("vpnwatch_build_info", (("version", "0.1.0"),))] == 1.0
    latest[0] = cycle()
    got = samples(registry)
    key = (
        ("router", "hub-r2"),
        ("tunnel_outside_ip", "198.51.100.2"),
        ("vpn_connection_id", "vpn-1"),
    )
    assert got[("vpnwatch_tunnel_up", key)] == 0.0
    assert got[("vpnwatch_tunnel_accepted_routes", key)] == 0.0
    up_key = (
        ("router", "hub-r1"),
        ("tunnel_outside_ip", "198.51.100.1"),
        ("vpn_connection_id", "vpn-1"),
    )
    assert got[("vpnwatch_tunnel_up", up_key)] == 1.0
    assert (
        got[
            (
                "vpnwatch_router_health",
                (("router", "hub-r2"), ("site", "hub"), ("state", "degraded")),
            )
        ]
        == 1.0
    )
    assert (
        got[
            (
                "vpnwatch_router_health",
                (("router", "hub-r1"), ("site", "hub"), ("state", "healthy")),
            )
        ]
        == 1.0
    )
    assert (
        got[("vpnwatch_bgp_neighbor_up", (("neighbor", "169.254.10.5"), ("router", "hub-r2")))]
        == 0.0
    )
    assert got[("vpnwatch_ipsec_sa_up", (("peer", "198.51.100.1"), ("router", "hub-r1")))] == 1.0
    # a router whose output could not be parsed exports no BGP/IPsec series at all
    assert not any(
        name == "vpnwatch_bgp_neighbor_up" and ("router", "spoke1-r1") in labels
        for name, labels in got
    )
    assert got[("vpnwatch_router_up", (("router", "spoke1-r1"), ("site", "spoke1")))] == 1.0


def test_poll_error_counter_starts_at_zero_for_every_source() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry, lambda: None, ControlState())
    metrics.count_errors([("aws", "throttled"), ("aws", "again"), ("parse", "x")])
    got = samples(registry)
    assert got[("vpnwatch_poll_errors_total", (("source", "aws"),))] == 2
    assert got[("vpnwatch_poll_errors_total", (("source", "ssh"),))] == 0


@pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool not installed (apt-get install prometheus)"
)
def test_promtool_accepts_the_exposition() -> None:
    registry = CollectorRegistry()
    control = ControlState(
        heal_steps={"hub-r1": "terminate"},
        actions={("hub-r1", "replace", "success"): 1},
        backup_success={"hub-r1": 1000.0},
        backup_drift={"hub-r1": False},
        state_errors={"heals/x.json": "not JSON at line 1"},
        rehearsals={"hub-r1": (True, 1000.0), "hub-r2": (False, 1000.0)},
    )
    metrics = Metrics(registry, cycle, control)
    metrics.poll_duration.observe(0.3)
    text = generate_latest(registry)
    result = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, timeout=30
    )
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()


async def fetch(port: int, path: str) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    data = await reader.read()
    writer.close()
    await writer.wait_closed()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


async def test_http_endpoints() -> None:
    registry = CollectorRegistry()
    Metrics(registry, cycle, ControlState())
    state = {"ready": False}
    server = MetricsServer(
        registry, host="127.0.0.1", port=0, healthy=lambda: True, ready=lambda: state["ready"]
    )
    await server.start()
    try:
        status, body = await fetch(server.port, "/metrics")
        assert status == 200 and b"vpnwatch_tunnel_up{" in body
        assert (await fetch(server.port, "/healthz"))[0] == 200
        assert (await fetch(server.port, "/readyz"))[0] == 503
        state["ready"] = True
        assert (await fetch(server.port, "/readyz"))[0] == 200
        assert (await fetch(server.port, "/nope"))[0] == 404
    finally:
        await server.stop()


def test_deploy_metrics_list_matches_what_the_daemon_exports() -> None:
    """deploy/metrics.txt (what rules and dashboards are checked against) is the real output."""
    from pathlib import Path

    listed: dict[str, set[str]] = {}
    for line in (Path(__file__).parents[2] / "deploy" / "metrics.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _kind, labels = line.split()
            listed[name] = set() if labels == "-" else set(labels.split(","))
    registry = CollectorRegistry()
    control = ControlState(
        heal_steps={"hub-r1": "launch"},
        actions={("hub-r1", "replace", "success"): 1},
        heal_failures={"hub-r1": 0},
        backup_success={"hub-r1": 1.0},
        backup_drift={"hub-r1": False},
        state_errors={"guards.live.json": "not JSON at line 1"},
        rehearsals={"hub-r1": (False, 2.0)},
    )
    Metrics(registry, cycle, control).poll_duration.observe(0.1)
    exported: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for s in family.samples:
            name = s.name
            for suffix in ("_bucket", "_sum", "_count", "_created"):
                if family.type == "histogram" and name.endswith(suffix):
                    name = family.name
            if name.endswith("_created"):
                continue
            labels = set(s.labels) - {"le"}
            exported.setdefault(name, set()).update(labels)
    assert exported == listed
