"""AWS replacing a tunnel endpoint, as the simulated VyOS lives it (issue 12): the SA is gone
while the new endpoint is provisioned; then it comes back only if someone initiates. Which
op-mode command initiates again depends on the VyOS version (vyatta-op-vpn up to 1.3; vyos-1x
`reset_peer` from 1.4, which initiates only for `connection-type initiate`, T6148)."""

# ruff: noqa: F811

from __future__ import annotations

import pytest

from tests.lab.test_vyos_sim_support import (  # noqa: F401 - fixtures
    ManualClock,
    RouterFactory,
    client_key,
    clock,
    make_router,
    op,
)
from vpnwatch.lab.vyos_sim import SimulatedRouter
from vpnwatch.lab.vyos_sim.shell import run_command

A, B = "203.0.113.10", "203.0.113.11"
PEER_B = {"1.3": B, "1.4": "AWS-2", "1.5": "AWS-2"}  # the article's peer names


def command(router: SimulatedRouter, line: str) -> tuple[int, str]:
    done = run_command(router.core, op(line), "")
    return done.status, done.stdout


def booted(make_router: RouterFactory, clock: ManualClock, version: str) -> SimulatedRouter:
    router = make_router(version=version)
    router.core.boot()
    clock.advance(2.0)
    assert router.tunnel_up(A) and router.tunnel_up(B) and router.bgp_up(B)
    return router


@pytest.mark.parametrize("version", ["1.3", "1.4", "1.5"])
def test_a_passive_replacement_leaves_the_tunnel_down_until_the_router_initiates(
    make_router: RouterFactory, clock: ManualClock, version: str
) -> None:
    router = booted(make_router, clock, version)
    assert router.replace_endpoint(B, down_for=5.0, aws_initiates=False)
    assert not router.tunnel_up(B) and router.tunnel_up(A)
    clock.advance(60)
    assert not router.tunnel_up(B) and router.sa_waiting(B)
    assert not router.bgp_up(B)  # the hold time ran out
    if version == "1.3":
        status, out = command(router, f"reset vpn ipsec-peer {B}")
        assert (status, out) == (0, f"Resetting tunnel vti with peer {B}...\n")
    else:
        status, out = command(router, "restart vpn")  # see the next test for the peer reset
        assert status == 0
    clock.advance(0.6)
    assert router.tunnel_up(B)
    clock.advance(1.0)
    assert router.bgp_up(B)


@pytest.mark.parametrize("version", ["1.4", "1.5"])
def test_a_named_peer_reset_initiates_only_with_connection_type_initiate(
    make_router: RouterFactory, clock: ManualClock, version: str
) -> None:
    router = booted(make_router, clock, version)
    router.replace_endpoint(B, down_for=1.0, aws_initiates=False)
    clock.advance(5)
    status, out = command(router, f"reset vpn ipsec site-to-site peer {PEER_B[version]}")
    assert (status, out) == (0, "")  # no SA to terminate, no initiation: says nothing
    clock.advance(5)
    assert not router.tunnel_up(B)
    tree = router.core.running.copy()
    tree.set(["vpn", "ipsec", "site-to-site", "peer", "AWS-2", "connection-type", "initiate"])
    router.core.commit(tree)
    clock.advance(5)
    assert not router.tunnel_up(B)  # a commit does not initiate
    status, out = command(router, "reset vpn ipsec site-to-site peer AWS-2")
    assert (status, out) == (0, "Peer AWS-2 initiate result: success\n")
    clock.advance(0.6)
    assert router.tunnel_up(B)
    status, out = command(router, "reset vpn ipsec site-to-site peer AWS-2")
    assert out == "Peer AWS-2 terminate result: success\nPeer AWS-2 initiate result: success\n"


def test_aws_initiates_after_the_new_endpoint_is_up(
    make_router: RouterFactory, clock: ManualClock
) -> None:
    router = booted(make_router, clock, "1.4")
    router.replace_endpoint(B, down_for=3.0, aws_initiates=True)
    clock.advance(3.4)
    assert not router.tunnel_up(B)
    clock.advance(0.2)  # 3 s to provision, 0.5 s to negotiate
    assert router.tunnel_up(B) and not router.sa_waiting(B)


def test_initiating_during_the_replacement_connects_once_the_endpoint_is_back(
    make_router: RouterFactory, clock: ManualClock
) -> None:
    router = booted(make_router, clock, "1.4")
    router.replace_endpoint(B, down_for=10.0, aws_initiates=False)
    clock.advance(1)
    assert command(router, "restart vpn")[0] == 0
    clock.advance(5)
    assert not router.tunnel_up(B) and router.tunnel_up(A)
    clock.advance(4.6)  # charon keeps trying: up once the endpoint answers
    assert router.tunnel_up(B)


def test_a_reboot_initiates_every_peer_again(
    make_router: RouterFactory, clock: ManualClock
) -> None:
    router = booted(make_router, clock, "1.5")
    router.replace_endpoint(B, down_for=1.0, aws_initiates=False)
    clock.advance(5)
    router.core.power_off()
    router.core.boot()
    clock.advance(0.6)
    assert router.tunnel_up(B)
