"""The real adapter against real FRR + strongSwan + OpenSSH routers (network namespaces).

Tests run in file order on one lab; the last one breaks the tunnel on purpose.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from tests.integration.netns_lab import HOLD, INSIDE, NetnsLab
from vpnwatch.adapters.vyos import CommandFailed, RouterEndpoint, VyosClient
from vpnwatch.config import SshConfig
from vpnwatch.model import RouterSshView
from vpnwatch.parsers import parse_bgp_summary
from vpnwatch.vocabulary import SshErrorKind

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

AWS_SIDE = INSIDE["r2"]


def settings(lab: NetnsLab, known_hosts: Path | None = None) -> SshConfig:
    return SshConfig(
        user="vyos",
        key_file=lab.client_key,
        known_hosts=known_hosts or lab.known_hosts,
        connect_timeout=3.0,
        command_timeout=5.0,
        keepalive_interval=5.0,
        max_concurrency=8,
        max_output_bytes=1 << 20,
    )


@pytest.fixture
async def client(netns_lab: NetnsLab) -> AsyncIterator[VyosClient]:
    vyos = VyosClient(settings(netns_lab))
    try:
        yield vyos
    finally:
        await vyos.close()


def endpoint(lab: NetnsLab) -> RouterEndpoint:
    return RouterEndpoint("r1", lab.ssh_host)


async def observe_until(
    client: VyosClient,
    router: RouterEndpoint,
    condition: Callable[[RouterSshView], bool],
    timeout: float,
) -> RouterSshView:
    """Poll `observe` until `condition` holds (a poll with a deadline, not a timed assert)."""
    view = await client.observe(router)
    async with asyncio.timeout(timeout):
        while not condition(view):
            await asyncio.sleep(0.3)
            view = await client.observe(router)
    return view


def ipsec_up(view: RouterSshView) -> bool:
    return view.ipsec is not None and any(sa.state == "up" for sa in view.ipsec.ipsec_sas)


def ike_up(view: RouterSshView) -> bool:
    return view.ike is not None and any(sa.state == "up" for sa in view.ike.ike_sas)


def bgp_established(view: RouterSshView) -> bool:
    assert view.bgp is not None, view.error
    return any(n.neighbor == AWS_SIDE and n.established for n in view.bgp.neighbors)


async def test_op_mode_text_form_through_the_wrapper(
    netns_lab: NetnsLab, client: VyosClient
) -> None:
    text = await client.run_op(endpoint(netns_lab), "show ip bgp summary")
    summary = parse_bgp_summary(text)
    (neighbor,) = summary.neighbors
    assert neighbor.neighbor == AWS_SIDE
    assert neighbor.state == "Established"
    with pytest.raises(CommandFailed, match="Invalid command"):
        await client.run_op(endpoint(netns_lab), "show no such thing")


async def test_real_sshd_host_key_is_checked(netns_lab: NetnsLab, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    stranger = VyosClient(settings(netns_lab, known_hosts=empty))
    try:
        view = await stranger.observe(endpoint(netns_lab))
        live = await stranger.fetch_host_key(endpoint(netns_lab))
    finally:
        await stranger.close()
    assert view.error_kind is SshErrorKind.HOST_KEY
    assert not view.reachable
    assert "unknown" in (view.error or "")
    assert live == netns_lab.host_public_key
    # the live key, passed as the endpoint's trusted key, is enough on its own
    trusting = VyosClient(settings(netns_lab, known_hosts=empty))
    try:
        pinned = RouterEndpoint("r1", netns_lab.ssh_host, trusted_host_keys=(live,))
        view = await trusting.observe(pinned)
    finally:
        await trusting.close()
    assert view.error is None, view.error


async def test_tunnel_down_then_bgp_down(netns_lab: NetnsLab, client: VyosClient) -> None:
    router = endpoint(netns_lab)
    view = await client.observe(router)
    assert view.reachable and view.error is None, view.error
    assert view.bgp is not None and view.ike is not None and view.ipsec is not None
    (neighbor,) = [n for n in view.bgp.neighbors if n.neighbor == AWS_SIDE]
    assert neighbor.established and neighbor.prefixes_received == 1
    assert neighbor.remote_as == 64512
    (ike,) = view.ike.ike_sas
    assert (ike.state, ike.ike_version, ike.peer.split()[0]) == ("up", "IKEv1", "198.18.0.2")
    assert ike.encryption is not None and "AES" in ike.encryption
    assert ipsec_up(view)

    # AWS side's charon stops cleanly: it sends DELETEs, r1 drops its SAs right away
    await asyncio.to_thread(netns_lab.stop, "r2", "charon", signal.SIGTERM)
    view = await observe_until(client, router, lambda v: v.ipsec is not None and not ipsec_up(v), 5)
    assert view.error is None, view.error
    assert not ike_up(view)

    # BGP keeps the session until its hold timer (HOLD s) expires, then gives up
    view = await observe_until(client, router, lambda v: not bgp_established(v), HOLD + 15)
    assert view.reachable and view.bgp is not None
    (neighbor,) = [n for n in view.bgp.neighbors if n.neighbor == AWS_SIDE]
    assert neighbor.state != "Established"
    assert neighbor.prefixes_received is None
