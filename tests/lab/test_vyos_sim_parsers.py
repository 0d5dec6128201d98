"""The simulator's output read by vpnwatch's own parsers (the product's view of it)."""

# The fixtures come from test_vyos_sim_support: tests take them as arguments.
# ruff: noqa: F811

from __future__ import annotations

import asyncssh
import pytest

from tests.lab.test_vyos_sim_support import (  # noqa: F401 - fixtures
    BGP_JSON,
    ManualClock,
    RouterFactory,
    client_key,
    clock,
    make_router,
    op,
    run,
    spoke_tunnels,
    ssh,
)
from vpnwatch.errors import ParseError
from vpnwatch.lab.vyos_sim import VERSIONS, Fault, article_config_commands
from vpnwatch.lab.vyos_sim.boot_scripts import run_postconfig_scripts
from vpnwatch.lab.vyos_sim.formats import check_version

parsers = pytest.importorskip("vpnwatch.parsers")

NEIGHBORS = ("169.254.10.1", "169.254.10.5")
PEERS = ("203.0.113.10", "203.0.113.11")


@pytest.mark.parametrize("version", VERSIONS)
async def test_healthy_router_parses_as_healthy(
    make_router: RouterFactory, client_key: asyncssh.SSHKey, clock: ManualClock, version: str
) -> None:
    router = make_router(version=version)
    await router.start()
    clock.advance(3 * 86400 + 7)
    async with ssh(router, client_key) as conn:
        texts = {
            c: (await run(conn, c)).stdout
            for c in (
                op("show ip bgp summary"),
                BGP_JSON,
                op("show vpn ike sa"),
                op("show vpn ipsec sa"),
                op("show configuration"),
                op("show configuration commands"),
            )
        }
    forms = [op("show ip bgp summary")] + ([BGP_JSON] if version != "1.1" else [])
    for command in forms:
        summary = parsers.parse_bgp_summary(texts[command])
        assert (summary.router_id, summary.local_as) == ("10.0.0.10", 65002)
        assert [
            (n.neighbor, n.state, n.prefixes_received, n.remote_as) for n in summary.neighbors
        ] == [(a, "Established", 1, 64512) for a in NEIGHBORS]
        assert all(
            n.uptime_seconds is not None and abs(n.uptime_seconds - (3 * 86400 + 5)) < 60
            for n in summary.neighbors
        )  # the text form shows whole minutes past a day
    ike = parsers.parse_ike_sa(texts[op("show vpn ike sa")])
    assert sorted((sa.peer, sa.local, sa.state) for sa in ike.ike_sas) == [
        (p, "10.0.0.10", "up") for p in PEERS
    ]
    ipsec = parsers.parse_ipsec_sa(texts[op("show vpn ipsec sa")])
    assert sorted((sa.peer, sa.state) for sa in ipsec.ipsec_sas) == [(p, "up") for p in PEERS]
    assert all(sa.bytes_in and sa.bytes_out for sa in ipsec.ipsec_sas)
    boot = parsers.parse_config(texts[op("show configuration")])
    commands = parsers.parse_config(texts[op("show configuration commands")])
    assert (boot.format, commands.format) == ("boot", "commands")
    assert list(boot.commands) == list(commands.commands) == router.running_config_commands()


@pytest.mark.parametrize("version", VERSIONS)
async def test_faulted_router_parses_as_down(
    make_router: RouterFactory, client_key: asyncssh.SSHKey, clock: ManualClock, version: str
) -> None:
    router = make_router(version=version)
    await router.start()
    clock.advance(30)
    await router.set_fault(Fault.BGP_DOWN)
    clock.advance(5)
    async with ssh(router, client_key) as conn:
        bgp_down = (await run(conn, op("show ip bgp summary"))).stdout
        await router.clear_fault(Fault.BGP_DOWN)
        await router.set_fault(Fault.IPSEC_DOWN)
        clock.advance(40)  # past the 30 s hold timer
        ipsec_down = (await run(conn, op("show vpn ipsec sa"))).stdout
        bgp_after = (await run(conn, op("show ip bgp summary"))).stdout
    summary = parsers.parse_bgp_summary(bgp_down)
    assert [(n.state, n.prefixes_received) for n in summary.neighbors] == [("Active", None)] * 2
    after = parsers.parse_bgp_summary(bgp_after)
    assert [n.state for n in after.neighbors] == ["Connect", "Connect"]
    sas = parsers.parse_ipsec_sa(ipsec_down).ipsec_sas
    assert all(sa.state == "down" for sa in sas)
    assert len(sas) == (2 if version == "1.1" else 0)


async def test_a_boot_script_prints_the_fingerprint_of_the_key_the_router_presents(
    make_router: RouterFactory, client_key: asyncssh.SSHKey
) -> None:
    """A post-config boot script runs with real sh and ssh-keygen against the router's own
    /etc/ssh, so what it prints is the real format of the router's real key."""
    script = (
        b"#!/bin/sh\nfor k in /etc/ssh/ssh_host_*_key.pub; do ssh-keygen -l -E sha256 -f $k; done\n"
    )
    router = make_router(files={"/opt/vyatta/etc/config/scripts/vyos-postconfig-bootup.script": (
        script, 0o755, False)})  # fmt: skip
    await router.start()
    lines = await run_postconfig_scripts(router.core.fs_root)
    assert len(lines) == 1 and lines[0].startswith("256 SHA256:"), lines
    assert lines[0].split()[1] == router.host_key_fingerprint and lines[0].endswith("(ED25519)")
    async with ssh(router, client_key) as conn:
        live = conn.get_server_host_key()
    assert live is not None and live.get_fingerprint("sha256") == router.host_key_fingerprint


async def test_a_script_that_is_not_executable_does_not_run(make_router: RouterFactory) -> None:
    script = b"#!/bin/sh\necho should not run\n"
    router = make_router(files={"/config/scripts/vyos-postconfig-bootup.script": (
        script, 0o644, False)})  # fmt: skip
    await router.start()
    assert await run_postconfig_scripts(router.core.fs_root) == []


async def test_garbage_does_not_parse(
    make_router: RouterFactory, client_key: asyncssh.SSHKey
) -> None:
    router = make_router(version="1.4")
    await router.start()
    await router.set_fault(Fault.GARBAGE)
    async with ssh(router, client_key) as conn:
        outputs = [
            (await run(conn, op(c))).stdout
            for c in ("show ip bgp summary", "show vpn ike sa", "show vpn ipsec sa")
        ]
    for text, parse in zip(
        outputs,
        (parsers.parse_bgp_summary, parsers.parse_ike_sa, parsers.parse_ipsec_sa),
        strict=True,
    ):
        with pytest.raises(ParseError):
            parse(text)


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_peer_that_never_comes_up_parses_as_down(
    make_router: RouterFactory, client_key: asyncssh.SSHKey, clock: ManualClock, version: str
) -> None:
    tunnels = spoke_tunnels()
    config = article_config_commands(
        "s", 65002, tunnels, role="spoke", vpc_cidr="10.2.0.0/16", version=check_version(version)
    )
    router = make_router(
        version=version, config_commands=[c.replace(tunnels[0].psk, "wrong-key") for c in config]
    )
    await router.start()
    clock.advance(60)
    async with ssh(router, client_key) as conn:
        ike = parsers.parse_ike_sa((await run(conn, op("show vpn ike sa"))).stdout)
        ipsec = parsers.parse_ipsec_sa((await run(conn, op("show vpn ipsec sa"))).stdout)
    # 1.1 lists only established IKE SAs; charon's retrying SA shows as down from 1.3 on
    expected_ike = (
        [(PEERS[1], "up")] if version == "1.1" else [(PEERS[0], "down"), (PEERS[1], "up")]
    )
    assert sorted((sa.peer, sa.state) for sa in ike.ike_sas) == expected_ike
    # the Perl table lists every configured tunnel, 1.3 every connection with an IKE SA,
    # 1.4 only installed child SAs
    states = {sa.peer or sa.connection: sa.state for sa in ipsec.ipsec_sas}
    assert states.get(PEERS[1]) == "up"
    if version in ("1.4", "1.5"):
        assert len(states) == 1
    else:
        assert "down" in states.values() and len(states) == 2
