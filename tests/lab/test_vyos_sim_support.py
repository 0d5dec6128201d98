"""Shared pieces of the simulated-VyOS tests (no tests here): a clock the test moves, the
article's tunnels, a router factory that always stops what it started, an SSH client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncssh
import pytest

from vpnwatch.lab.vyos_sim import SimulatedRouter, Timings, TunnelSpec

WRAPPER = "/opt/vyatta/bin/vyatta-op-cmd-wrapper"
BGP_JSON = "vtysh -c 'show ip bgp summary json'"
START = 1_700_000_000.0
TIMINGS = Timings(ipsec_setup=0.5, bgp_setup=1.0)


class ManualClock:
    """Epoch seconds that only move when the test says so."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def spoke_tunnels() -> list[TunnelSpec]:
    """A spoke router's two tunnels to the hub VGW, which advertises the hub VPC."""
    return [
        TunnelSpec.from_cidr(
            "203.0.113.10", "169.254.10.0/30", "Spoke1tunnelA.psk", prefixes=("10.1.0.0/16",)
        ),
        TunnelSpec.from_cidr(
            "203.0.113.11", "169.254.10.4/30", "Spoke1tunnelB_psk", prefixes=("10.1.0.0/16",)
        ),
    ]


def op(command: str) -> str:
    return f"{WRAPPER} {command}"


def config_script(*lines: str) -> str:
    return (
        "\n".join(["source /opt/vyatta/etc/functions/script-template", "configure", *lines, "exit"])
        + "\n"
    )


RouterFactory = Callable[..., SimulatedRouter]


@pytest.fixture
def client_key() -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-ed25519")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def make_router(
    client_key: asyncssh.SSHKey, clock: ManualClock
) -> AsyncIterator[RouterFactory]:
    """Builds routers (spoke defaults, the test clock); every one is stopped at teardown."""
    made: list[SimulatedRouter] = []

    def make(
        name: str = "spoke1-a",
        *,
        version: str = "1.4",
        tunnels: Sequence[TunnelSpec] | None = None,
        **kwargs: Any,
    ) -> SimulatedRouter:
        kwargs.setdefault("vpc_cidr", "10.2.0.0/16")
        kwargs.setdefault("timings", TIMINGS)
        router = SimulatedRouter(
            name,
            version=version,
            local_as=65002,
            tunnels=spoke_tunnels() if tunnels is None else tunnels,
            authorized_client_key=client_key.export_public_key().decode(),
            clock=clock,
            **kwargs,
        )
        made.append(router)
        return router

    yield make
    for router in made:
        await router.stop()


@asynccontextmanager
async def ssh(
    router: SimulatedRouter,
    key: asyncssh.SSHKey,
    *,
    known_hosts: Any = None,
    username: str = "vyos",
) -> AsyncIterator[asyncssh.SSHClientConnection]:
    """A client connection that checks the router's host key (its own known_hosts line)."""
    trusted = (
        known_hosts
        if known_hosts is not None
        else asyncssh.import_known_hosts(router.known_hosts_line() + "\n")
    )
    conn = await asyncssh.connect(
        router.host,
        router.port,
        username=username,
        client_keys=[key],
        known_hosts=trusted,
        config=None,
        agent_path=None,
        password_auth=False,
        kbdint_auth=False,
        connect_timeout=5,
    )
    try:
        yield conn
    finally:
        conn.close()
        await conn.wait_closed()


@dataclass(frozen=True)
class Result:
    stdout: str
    stderr: str
    exit_status: int | None


async def run(conn: asyncssh.SSHClientConnection, command: str, stdin: str | None = None) -> Result:
    done = await conn.run(command, input=stdin, check=False, timeout=10)
    return Result(str(done.stdout or ""), str(done.stderr or ""), done.exit_status)
