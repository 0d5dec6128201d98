"""Hostile simulated routers (the `deep-config` and `secret-output` lab faults) against the
real VyosClient and BackupManager: a parse error naming a position, other routers
unaffected, and no pre-shared key in any view, result or log event."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.backup.conftest import SimLab, assert_no_secrets, targets_of
from vpnwatch.backup import BackupManager, LocalStore
from vpnwatch.lab.vyos_sim import Fault
from vpnwatch.model import SshErrorKind
from vpnwatch.redaction import forget_secrets

pytestmark = pytest.mark.timeout(90)

NOW = 1_714_564_800.0
Logs = list[Any]


@pytest.fixture(autouse=True)
def _no_known_secrets() -> None:
    """What is asserted here must hold without the registry's help."""
    forget_secrets()


async def test_the_faults_answer_as_documented(sim_lab: SimLab) -> None:
    router = await sim_lab.add("spoke1-r1")
    endpoint = sim_lab.endpoint("spoke1-r1")
    normal = await sim_lab.client.run_op(endpoint, "show vpn ike sa")
    await router.set_fault(Fault.SECRET_OUTPUT)
    await router.set_fault(Fault.DEEP_CONFIG)
    psk = router.core.tunnels[0].psk
    assert await sim_lab.client.run_op(endpoint, "show vpn ike sa") == f"secret {psk}\n{normal}"
    deep = await sim_lab.client.run_op(endpoint, "show configuration")
    assert deep.count("{") == 10_000 and len(deep) < 100_000
    await router.clear_fault()
    assert await sim_lab.client.run_op(endpoint, "show vpn ike sa") == normal


async def test_a_secret_line_in_ike_output_is_a_parse_error_without_the_secret(
    sim_lab: SimLab, logs: Logs
) -> None:
    router = await sim_lab.add("spoke1-r1")
    await router.set_fault(Fault.SECRET_OUTPUT)
    view = await sim_lab.client.observe(sim_lab.endpoint("spoke1-r1"))
    assert view.error_kind is SshErrorKind.PARSE and view.reachable
    assert view.error == "show vpn ike sa: line 1: unexpected line (not a peer block)"
    assert view.bgp is not None and view.ipsec is not None  # the other answers still count
    assert_no_secrets(sim_lab.psks, view, logs)


async def test_a_deep_config_fails_its_own_backup_only(
    sim_lab: SimLab, tmp_path: Path, logs: Logs
) -> None:
    names = ("spoke1-r1", "spoke1-r2", "spoke1-r3")
    for index, name in enumerate(names):
        await sim_lab.add(name, index=index, private_ip=f"10.1.0.{10 + index}")
    await sim_lab.routers["spoke1-r1"].set_fault(Fault.DEEP_CONFIG)
    manager = BackupManager(LocalStore(tmp_path / "b", 5), sim_lab.client)
    deep, *others = await manager.pull_all(targets_of(sim_lab, *names), now=NOW)
    assert not deep.ok and deep.error is not None
    assert "line 65: configuration nested deeper than 64 levels" in deep.error
    assert [(r.ok, r.changed) for r in others] == [(True, True), (True, True)]
    assert not manager.has_valid_backup("spoke1-r1")
    assert_no_secrets(sim_lab.psks, logs, deep, others)
