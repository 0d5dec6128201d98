"""Simulated VyOS routers on 127.0.0.1 (real asyncssh), a real VyosClient, captured logs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh
import pytest
import structlog
from structlog.testing import capture_logs

from vpnwatch.adapters.vyos import RouterEndpoint, VyosClient
from vpnwatch.backup import BackupTarget
from vpnwatch.config import SshConfig
from vpnwatch.lab.vyos_sim import SimulatedRouter, TunnelSpec

LOCAL_AS = 65000


class ManualClock:
    """The simulated routers' clock: BGP and IPsec only progress when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def spoke_tunnels(router: str, index: int) -> tuple[TunnelSpec, ...]:
    """Two AWS tunnels (one VPN connection) for a spoke router, with recognisable PSKs."""
    return tuple(
        TunnelSpec.from_cidr(
            f"52.0.{index}.{t + 1}",
            f"169.254.{10 + index}.{4 * t}/30",
            f"PSK{router.replace('-', '')}T{t}x9Qz",
            prefixes=("10.0.0.0/16",),
        )
        for t in range(2)
    )


@dataclass
class SimLab:
    """Routers by name, one VyosClient trusting their host keys via a known_hosts file."""

    tmp: Path
    key_file: Path
    known_hosts: Path
    client_public_key: str
    client: VyosClient
    clock: ManualClock
    routers: dict[str, SimulatedRouter] = field(default_factory=dict)
    psks: set[str] = field(default_factory=set)

    async def add(
        self,
        name: str,
        *,
        version: str = "1.3",
        index: int = 0,
        config_commands: Sequence[str] | None = None,
        host: str = "127.0.0.1",
        tunnels: Sequence[TunnelSpec] | None = None,
        private_ip: str = "10.1.0.10",
    ) -> SimulatedRouter:
        specs = tuple(tunnels) if tunnels is not None else spoke_tunnels(name, index)
        router = SimulatedRouter(
            name, version=version, local_as=LOCAL_AS, tunnels=specs,
            authorized_client_key=self.client_public_key, clock=self.clock,
            config_commands=config_commands, vpc_cidr="10.1.0.0/16", private_ip=private_ip,
        )  # fmt: skip
        self.routers[name] = router
        self.psks.update(t.psk for t in specs)
        await router.start(host)
        with self.known_hosts.open("a", encoding="utf-8") as fh:
            fh.write(router.known_hosts_line() + "\n")
        return router

    def endpoint(self, name: str) -> RouterEndpoint:
        router = self.routers[name]
        return RouterEndpoint(name, router.host, router.port)


def write_client_key(folder: Path) -> tuple[Path, str]:
    key = asyncssh.generate_private_key("ssh-ed25519")
    path = folder / "id_ed25519"
    path.write_bytes(key.export_private_key())
    path.chmod(0o600)
    return path, key.export_public_key().decode().strip()


@pytest.fixture
async def sim_lab(tmp_path: Path) -> AsyncIterator[SimLab]:
    key_file, public = write_client_key(tmp_path)
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("", encoding="utf-8")
    settings = SshConfig(
        user="vyos", key_file=key_file, known_hosts=known_hosts, connect_timeout=5.0,
        command_timeout=5.0, keepalive_interval=10.0, max_concurrency=8,
        max_output_bytes=1 << 20, config_timeout=10.0,
    )  # fmt: skip
    lab = SimLab(tmp_path, key_file, known_hosts, public, VyosClient(settings), ManualClock())
    try:
        yield lab
    finally:
        await lab.client.close()
        for router in lab.routers.values():
            await router.stop()


@pytest.fixture
def logs() -> Iterator[list[MutableMapping[str, Any]]]:
    """Every structlog event of the test, as the event dicts the processors would render."""
    with capture_logs() as captured:
        yield captured
    structlog.reset_defaults()


def assert_no_secrets(secrets: Iterable[str], *texts: object) -> None:
    """None of `secrets` appears in any of `texts` (log events, results, error messages)."""
    wanted = [s for s in secrets if s]
    assert wanted, "the test must know which secrets to look for"
    for text in texts:
        rendered = repr(text)
        leaked = [s for s in wanted if s in rendered]
        assert not leaked, f"secret value leaked into: {rendered[:200]}..."


def targets_of(lab: SimLab, *names: str) -> list[BackupTarget]:
    return [BackupTarget(name, lab.endpoint(name)) for name in names]
