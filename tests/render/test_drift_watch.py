"""`service.vpn_drift.VpnDriftWatch` against the emulated AWS (moto over HTTP) and the
simulated routers' configurations: what it exports and says for a matching router, a
hand-named one (no drift) and the same with a wrong key (drift), and every case in which
it cannot compare (then it claims nothing).
The daemon process with real backup pulls is tests/scenarios/test_vpn_drift.py."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest
from structlog.testing import capture_logs

from vpnwatch.adapters.aws import AwsClient
from vpnwatch.backup.manager import BackupResult, PulledConfig
from vpnwatch.commands.render import render_routers
from vpnwatch.config import Config
from vpnwatch.configfile import load_config, parse_config
from vpnwatch.lab.world import LabWorld
from vpnwatch.logs import get_logger
from vpnwatch.metrics import ControlState, Metrics
from vpnwatch.model import RouterAwsView
from vpnwatch.observe import plan_routers
from vpnwatch.render import SECTIONS
from vpnwatch.service.vpn_drift import VpnDriftWatch

SHOW_VERSION = "Version:          VyOS 1.4.3\nRelease train:    sagitta\n"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabWorld]:
    lab = LabWorld(tmp_path_factory.mktemp("drift-watch"), detection_delay=0.2)
    lab.start()
    try:
        yield lab
    finally:
        lab.stop()


@pytest.fixture(scope="module")
def config(world: LabWorld) -> Config:
    return load_config(world.config_path)


def _views(config: Config) -> dict[str, RouterAwsView]:
    async def run() -> dict[str, RouterAwsView]:
        aws = AwsClient(config.aws)
        try:
            observed = await aws.observe([p.selector for p in plan_routers(config)])
            return dict(observed.views)
        finally:
            aws.close()

    return asyncio.run(run())


def _rendered(config: Config, router: str) -> str:
    (outcome,) = asyncio.run(render_routers(config, router, "1.4", False))
    return "\n".join(outcome.rendered.commands)


def _check(
    config: Config, pulls: dict[str, str | None], views: dict[str, RouterAwsView], *,
    control: ControlState | None = None, show_version: str = SHOW_VERSION,
) -> tuple[VpnDriftWatch, ControlState, list[Any]]:  # fmt: skip
    """One batch: `pulls` maps router → what it printed (None: its pull failed)."""
    control = control if control is not None else ControlState()

    async def run() -> VpnDriftWatch:
        aws = AwsClient(config.aws)
        try:
            watch = VpnDriftWatch(
                lambda: config, aws, control=control, clock=lambda: 1000.0,
                log=get_logger("test"),
            )  # fmt: skip
            watch.observed(views)
            results = [BackupResult(r, ok=text is not None) for r, text in pulls.items()]
            pulled = [PulledConfig(r, t, show_version) for r, t in pulls.items() if t is not None]
            await watch.check(results, pulled)
            return watch
        finally:
            aws.close()

    with capture_logs() as logs:
        watch = asyncio.run(run())
    return watch, control, logs


def _psks(world: LabWorld) -> list[str]:
    return [t.psk for r in ("hub-r1", "spoke1-r1") for c in world.topology.connections_of(r)
            for t in c.tunnels]  # fmt: skip


def _scraped(control: ControlState) -> str:
    registry = CollectorRegistry()
    Metrics(registry, lambda: None, control)
    return generate_latest(registry).decode()


def test_a_router_running_the_rendered_config_exports_zero_everywhere(
    world: LabWorld, config: Config
) -> None:
    watch, control, logs = _check(config, {"hub-r1": _rendered(config, "hub-r1")}, _views(config))
    assert control.vpn_drift == {"hub-r1": dict.fromkeys(SECTIONS, False)}
    assert watch.reasons() == {}
    assert 'vpnwatch_vpn_config_drift{router="hub-r1",section="peer"} 0.0' in _scraped(control)
    assert [e["event"] for e in logs] == ["vpn config matches AWS"]


def test_a_hand_named_config_matches_and_a_changed_key_drifts_unsaid(
    world: LabWorld, config: Config
) -> None:
    """The lab's own routers name their peers AWS-1/AWS-2, not what `render` prescribes:
    no drift (names are matched by meaning). A key that differs from AWS's is drift."""
    router = world.simulated_router("spoke1-r1")
    assert router is not None
    running = "\n".join(router.running_config_commands())
    assert "peer AWS-1 " in running
    watch, control, _ = _check(config, {"spoke1-r1": running}, _views(config))
    assert control.vpn_drift == {"spoke1-r1": dict.fromkeys(SECTIONS, False)}
    assert watch.reasons() == {}
    key = next(k for k in _psks(world) if f"'{k}'" in running)
    wrong = running.replace(f"'{key}'", "'Wrong.key_0000'")
    watch, control, logs = _check(config, {"spoke1-r1": wrong}, _views(config))
    drifted = [s for s, d in control.vpn_drift["spoke1-r1"].items() if d]
    assert drifted == ["peer"]
    assert watch.reasons() == {"spoke1-r1": "peer"}
    said = str(watch.reasons()) + str(logs) + _scraped(control)
    assert not any(k in said for k in [*_psks(world), "Wrong.key_0000"])


def test_no_comparison_claims_nothing_and_says_why(world: LabWorld, config: Config) -> None:
    views = _views(config)
    control = ControlState()
    _check(config, {"hub-r1": _rendered(config, "hub-r1")}, views, control=control)
    assert "hub-r1" in control.vpn_drift
    cases: list[tuple[dict[str, str | None], dict[str, RouterAwsView], str, str]] = [
        ({"hub-r1": None}, views, SHOW_VERSION, "the backup pull failed"),
        ({"hub-r1": "set vpn ipsec ike-group 'x"}, views, SHOW_VERSION, "not compared:"),
        ({"hub-r1": _rendered(config, "hub-r1")}, views, "Version: VyOS 1.2.9\n", "1.2 is not"),
        ({"hub-r1": _rendered(config, "hub-r1")}, {}, SHOW_VERSION, "not observed"),
    ]
    for pulls, seen, version, why in cases:
        control.vpn_drift["hub-r1"] = dict.fromkeys(SECTIONS, False)  # an earlier "no drift"
        watch, _, logs = _check(config, pulls, seen, control=control, show_version=version)
        assert "hub-r1" not in control.vpn_drift, why  # withdrawn: not even "no drift"
        said = watch.reasons()["hub-r1"]
        assert said.startswith("unknown (") and why in said, said
        assert any(e["event"] == "vpn drift unknown" for e in logs)
        assert "vpnwatch_vpn_config_drift{" not in _scraped(control)


def test_a_site_without_vpn_section_is_not_checked(world: LabWorld, config: Config) -> None:
    data = yaml.safe_load(world.config_path.read_text())
    for site in data["sites"]:
        site.pop("vpn", None)
    bare = parse_config(yaml.safe_dump(data))
    control = ControlState(vpn_drift={"hub-r1": dict.fromkeys(SECTIONS, True)})  # before
    watch, _, logs = _check(
        bare, {"hub-r1": _rendered(config, "hub-r1")}, _views(config), control=control
    )
    assert (control.vpn_drift, watch.reasons(), logs) == ({}, {}, [])
