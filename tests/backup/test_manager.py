"""BackupManager against simulated VyOS routers over real SSH (127.0.0.1) and a LocalStore."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from tests.backup.conftest import SimLab, assert_no_secrets, spoke_tunnels
from vpnwatch.adapters.vyos import RouterEndpoint
from vpnwatch.backup import BackupManager, BackupTarget, LocalStore
from vpnwatch.backup.store import version_time
from vpnwatch.lab.vyos_sim import VERSIONS, Fault, peer_name
from vpnwatch.metrics import ControlState
from vpnwatch.parsers import parse_config, render_config_boot

pytestmark = pytest.mark.timeout(60)

NOW = 1_714_564_800.0
STRIPPED = ("interfaces ethernet eth0", "service", "system")
Logs = list[Any]


def not_stripped(command: str) -> bool:
    path = command.split()[1:]
    return not any(path[: len(s.split())] == s.split() for s in STRIPPED)


def targets(lab: SimLab, *names: str) -> list[BackupTarget]:
    return [BackupTarget(name, lab.endpoint(name)) for name in names]


class HalfAnswer:
    """A router whose answer stops half-way (a dropped channel, a full disk on its side)."""

    def __init__(self, lab: SimLab) -> None:
        self._client = lab.client

    async def run_op(self, router: RouterEndpoint, command: str) -> str:
        lines = (await self._client.run_op(router, command)).splitlines(keepends=True)
        return "".join(lines[: len(lines) // 2])


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize("version", VERSIONS)
async def test_pull_round_trips_and_stores_the_sanitized_config(
    sim_lab: SimLab, tmp_path: Path, version: str, logs: Logs
) -> None:
    router = await sim_lab.add("spoke1-r1", version=version)
    raw = await sim_lab.client.run_op(sim_lab.endpoint("spoke1-r1"), "show configuration")
    pulled = parse_config(raw)
    assert pulled.format == "boot"
    # the boot form and the router's own `set` form are the same configuration
    assert pulled.commands == parse_config("\n".join(router.running_config_commands())).commands
    assert parse_config(render_config_boot(pulled.commands)).commands == pulled.commands

    control = ControlState()
    manager = BackupManager(LocalStore(tmp_path / "b", 5), sim_lab.client, control=control)
    result = await manager.pull("spoke1-r1", sim_lab.endpoint("spoke1-r1"), now=NOW)
    assert result.ok and result.changed and not result.drift, result.error
    assert result.sections_removed == STRIPPED
    assert result.location is not None and result.version is not None
    stored_text = Path(result.location).read_text()
    stored = parse_config(stored_text).commands
    assert stored == tuple(c for c in pulled.commands if not_stripped(c))
    assert parse_config(render_config_boot(stored)).commands == stored
    assert manager.latest_valid_backup("spoke1-r1") == (stored_text, result.version)
    assert control.backup_success == {"spoke1-r1": NOW}
    assert control.backup_drift == {"spoke1-r1": False}
    assert_no_secrets(sim_lab.psks, logs, result)
    # the VyOS it was taken on: the config-version footer and `show version`'s release
    footer = router.core.read_file("/config/config.boot").rstrip().splitlines()[-1]
    assert stored_text.rstrip().splitlines()[-2] == footer.strip()
    release = {"1.1": "1.1.8", "1.3": "1.3.8", "1.4": "1.4.3", "1.5": "1.5-stream-2025-Q2"}[version]
    assert stored_text.rstrip().endswith(f"// vpnwatch-show-version: {release}")


async def test_unchanged_pull_writes_nothing_and_drift_is_per_router(
    sim_lab: SimLab, tmp_path: Path, logs: Logs
) -> None:
    await sim_lab.add("spoke1-r1", index=0)
    await sim_lab.add("spoke1-r2", index=1, private_ip="10.1.0.11")
    names = ("spoke1-r1", "spoke1-r2")
    store = LocalStore(tmp_path / "b", 5)
    control = ControlState()
    manager = BackupManager(store, sim_lab.client, control=control)

    first = await manager.pull_all(targets(sim_lab, *names), now=NOW)
    assert [(r.ok, r.changed, r.drift) for r in first] == [(True, True, False)] * 2
    second = await manager.pull_all(targets(sim_lab, *names), now=NOW + 3600)
    assert [(r.changed, r.drift, r.version) for r in second] == [
        (False, False, r.version) for r in first
    ]
    assert [await store.versions(n) for n in names] == [(r.version,) for r in first]
    assert control.backup_success == {n: NOW + 3600 for n in names}

    # an operator rotates a pre-shared key and adds a route on spoke1-r1 only
    rotated = "PSKrotated7Wq"
    tunnel = spoke_tunnels("spoke1-r1", 0)[0]
    peer = f"vpn ipsec site-to-site peer {peer_name('1.3', 0, tunnel)}"
    await sim_lab.client.run_config(
        sim_lab.endpoint("spoke1-r1"),
        [
            f"set {peer} authentication pre-shared-secret '{rotated}'",
            "set protocols static route 10.9.0.0/16 next-hop 10.1.0.1 distance '20'",
        ],
    )
    third = await manager.pull_all(targets(sim_lab, *names), now=NOW + 7200)
    changed, untouched = third
    assert changed.changed and changed.drift
    assert changed.changed_sections == ("protocols static", "vpn ipsec")
    assert not untouched.changed and not untouched.drift
    assert control.backup_drift == {"spoke1-r1": True, "spoke1-r2": False}
    assert len(await store.versions("spoke1-r1")) == 2
    assert len(await store.versions("spoke1-r2")) == 1
    assert changed.location is not None and rotated in Path(changed.location).read_text()
    summaries = [e["summary"] for e in logs if e["event"] == "backup.stored"]
    assert summaries[-1] == "changed sections: protocols static, vpn ipsec"

    fourth = await manager.pull_all(targets(sim_lab, *names), now=NOW + 10800)
    assert [r.changed for r in fourth] == [False, False]
    assert control.backup_drift == {"spoke1-r1": False, "spoke1-r2": False}
    assert_no_secrets(sim_lab.psks | {rotated}, logs, first, second, third, fourth)


async def test_bad_pulls_are_rejected_and_history_is_kept(
    sim_lab: SimLab, tmp_path: Path, logs: Logs
) -> None:
    router = await sim_lab.add("spoke1-r1")
    endpoint = sim_lab.endpoint("spoke1-r1")
    store = LocalStore(tmp_path / "b", 5)
    control = ControlState()
    manager = BackupManager(store, sim_lab.client, control=control)
    good = await manager.pull("spoke1-r1", endpoint, now=NOW)
    assert good.ok and good.version is not None
    history = await store.versions("spoke1-r1")
    kept = manager.latest_valid_backup("spoke1-r1")

    await router.set_fault(Fault.GARBAGE)
    garbage = await manager.pull("spoke1-r1", endpoint, now=NOW + 60)
    await router.clear_fault(Fault.GARBAGE)
    half = BackupManager(store, HalfAnswer(sim_lab), control=control)
    truncated = await half.pull("spoke1-r1", endpoint, now=NOW + 120)
    # most of the config is gone on the router: it parses, but lost 3 of 4 sections
    await sim_lab.client.run_config(endpoint, ["delete vpn", "delete policy", "delete protocols"])
    shrunk = await manager.pull("spoke1-r1", endpoint, now=NOW + 180)

    for result in (garbage, truncated, shrunk):
        assert not result.ok and result.version is None
        assert result.error is not None and "rejected" in result.error
    assert "does not parse" in (truncated.error or "")
    assert "top-level sections" in (shrunk.error or "")
    assert await store.versions("spoke1-r1") == history
    assert manager.latest_valid_backup("spoke1-r1") == kept
    assert control.backup_success == {"spoke1-r1": NOW}  # failures are not successes
    assert control.backup_drift == {"spoke1-r1": False}
    failures = [e for e in logs if e["event"] == "backup.failed"]
    assert len(failures) == 3
    assert_no_secrets(sim_lab.psks, logs, garbage, truncated, shrunk)


async def test_restore_cache_skips_corrupt_versions_and_survives_a_restart(
    sim_lab: SimLab, tmp_path: Path, logs: Logs
) -> None:
    await sim_lab.add("spoke1-r1")
    store = LocalStore(tmp_path / "b", 5)
    good = await BackupManager(store, sim_lab.client).pull(
        "spoke1-r1", sim_lab.endpoint("spoke1-r1"), now=NOW
    )
    assert good.ok and good.location is not None and good.version is not None
    good_text = Path(good.location).read_text()
    corrupt = tmp_path / "b" / "spoke1-r1" / "20990101T000000.000000Z-0123456789ab.boot"
    corrupt.write_text(good_text[: len(good_text) // 3])  # newer name, truncated content

    control = ControlState()
    restarted = BackupManager(store, sim_lab.client, control=control)
    assert restarted.latest_valid_backup("spoke1-r1") is None  # nothing read yet
    await restarted.load(["spoke1-r1", "hub-r1"])
    assert restarted.latest_valid_backup("spoke1-r1") == (good_text, good.version)
    assert restarted.has_valid_backup("spoke1-r1")
    assert restarted.latest_valid_backup("hub-r1") is None
    assert control.backup_success == {"spoke1-r1": version_time(good.version)}
    skipped = [e for e in logs if e["event"] == "backup.corrupt_version_skipped"]
    assert [e["version"] for e in skipped] == ["20990101T000000.000000Z-0123456789ab"]
    assert_no_secrets(sim_lab.psks, logs)


async def test_run_due_pulls_in_one_background_task_on_schedule(
    sim_lab: SimLab, tmp_path: Path
) -> None:
    await sim_lab.add("spoke1-r1")
    gone = BackupTarget("gone", RouterEndpoint("gone", "127.0.0.1", closed_port()))
    every = [*targets(sim_lab, "spoke1-r1"), gone]
    names = ("spoke1-r1", "gone")
    manager = BackupManager(
        LocalStore(tmp_path / "b", 5), sim_lab.client, interval=3600, retry_interval=300
    )
    task = manager.run_due(NOW, every)
    assert task is not None
    assert manager.run_due(NOW, every) is None  # one task at a time
    results = await task
    assert [(r.router, r.ok) for r in results] == [("spoke1-r1", True), ("gone", False)]
    assert results[1].error and "gone" in results[1].error
    assert manager.due(NOW + 299, names) == ()
    assert manager.due(NOW + 300, names) == ("gone",)  # a failure is retried sooner
    assert manager.due(NOW + 3600, names) == names
    assert manager.run_due(NOW + 60, every) is None  # nothing due
    retry = manager.run_due(NOW + 300, every)
    assert retry is not None
    assert [r.router for r in await retry] == ["gone"]
    await manager.close()


async def test_a_broken_store_is_a_failed_result_not_an_exception(
    sim_lab: SimLab, tmp_path: Path, logs: Logs
) -> None:
    await sim_lab.add("spoke1-r1")
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    control = ControlState()
    manager = BackupManager(LocalStore(blocker, 5), sim_lab.client, control=control)
    task = manager.run_due(NOW, targets(sim_lab, "spoke1-r1"))
    assert task is not None
    [result] = await task
    assert not result.ok and result.error is not None and "cannot write" in result.error
    assert control.backup_success == {}
    assert manager.latest_valid_backup("spoke1-r1") is None
    assert_no_secrets(sim_lab.psks, logs, result)


@pytest.mark.parametrize("version", VERSIONS)
async def test_backup_restores_onto_a_blank_router(
    sim_lab: SimLab, tmp_path: Path, version: str, logs: Logs
) -> None:
    tunnels = spoke_tunnels("spoke1-r1", 0)
    await sim_lab.add("spoke1-r1", version=version, tunnels=tunnels)
    manager = BackupManager(LocalStore(tmp_path / "b", 5), sim_lab.client)
    pulled = await manager.pull("spoke1-r1", sim_lab.endpoint("spoke1-r1"), now=NOW)
    assert pulled.ok, pulled.error

    # the replacement: same private IP and tunnels, but a fresh AMI config only
    blank = await sim_lab.add("spoke1-r1-new", version=version, tunnels=tunnels, config_commands=[])
    endpoint = sim_lab.endpoint("spoke1-r1-new")
    sim_lab.clock.advance(30)
    before = await sim_lab.client.observe(endpoint)
    assert before.reachable
    assert before.bgp is None or not any(n.established for n in before.bgp.neighbors)

    backup = manager.latest_valid_backup("spoke1-r1")
    assert backup is not None
    text, _ = backup
    await sim_lab.client.upload(endpoint, "/home/vyos/backup.conf", text.encode())
    assert blank.files["/home/vyos/backup.conf"] == text.encode()
    # the runbook's `delete system ntp`; VyOS 1.4 moved NTP to `service ntp`
    ntp = "delete service ntp" if version in ("1.4", "1.5") else "delete system ntp"
    await sim_lab.client.run_config(
        endpoint, [ntp, "commit", "merge /home/vyos/backup.conf"], save=True
    )
    sim_lab.clock.advance(30)
    after = await sim_lab.client.observe(endpoint)
    assert after.bgp is not None, after.error
    sessions = {n.neighbor: n for n in after.bgp.neighbors}
    assert set(sessions) == {t.aws_inside_ip for t in tunnels}
    assert all(
        n.state == "Established" and (n.prefixes_received or 0) >= 1 for n in sessions.values()
    )
    saved = set(blank.saved_config_commands())  # `save` ran: it survives a reboot
    assert any(c.startswith("set protocols bgp") for c in saved)
    assert_no_secrets(sim_lab.psks, logs)
