"""The simulated dataplane: when SAs and BGP sessions come and go (time from a test clock)."""

# The fixtures come from test_vyos_sim_support: tests take them as arguments.
# ruff: noqa: F811

from __future__ import annotations

import asyncssh
import pytest

from tests.lab.test_vyos_sim_support import (  # noqa: F401 - fixtures
    START,
    ManualClock,
    RouterFactory,
    client_key,
    clock,
    make_router,
    spoke_tunnels,
)
from vpnwatch.lab.vyos_sim import AwsTunnelView, Fault, TunnelSpec, article_config_commands

A, B = "203.0.113.10", "203.0.113.11"


def test_boot_brings_ipsec_then_bgp_up(make_router: RouterFactory, clock: ManualClock) -> None:
    router = make_router()
    assert not router.alive and not router.tunnel_up(A)
    router.core.boot()
    assert router.state_dict()["ipsec"] == {A: "down", B: "down"}
    clock.advance(0.49)
    assert not router.tunnel_up(A)
    clock.advance(0.02)
    assert router.tunnel_up(A) and not router.bgp_up(A)
    assert router.state_dict()["bgp"]["169.254.10.1"] in ("Idle", "Active")
    clock.advance(1.0)
    assert router.bgp_up(A) and router.bgp_up(B)
    assert router.state_dict()["bgp"] == {
        "169.254.10.1": "Established",
        "169.254.10.5": "Established",
    }


def test_bgp_outlives_ipsec_for_its_hold_time(
    make_router: RouterFactory, clock: ManualClock
) -> None:
    router = make_router()
    router.core.boot()
    clock.advance(10)
    router.core.set_fault(Fault.IPSEC_DOWN)
    assert not router.tunnel_up(A)
    clock.advance(29.9)  # the article's hold time is 30 s
    assert router.bgp_up(A)
    clock.advance(0.2)
    assert not router.bgp_up(A)
    _, neighbors = router.core.neighbor_statuses()
    assert [n.state for n in neighbors] == ["Connect", "Connect"]
    # Up/Down counts from the hold timer's expiry: 10 s up, then 30 s of hold time
    assert neighbors[0].since == pytest.approx(START + 40)
    router.core.clear_fault(Fault.IPSEC_DOWN)
    clock.advance(1.4)
    assert router.tunnel_up(A) and not router.bgp_up(A)
    clock.advance(0.2)
    assert router.bgp_up(A)


def test_a_quick_renegotiation_keeps_the_session(
    make_router: RouterFactory, clock: ManualClock
) -> None:
    router = make_router()
    router.core.boot()
    clock.advance(5)
    assert router.core.reset_sas(A)
    clock.advance(0.5)
    _, neighbors = router.core.neighbor_statuses()
    assert router.tunnel_up(A)
    assert [(n.state, n.established_count, n.dropped_count) for n in neighbors] == [
        ("Established", 1, 0)
    ] * 2


def test_aws_view_of_the_tunnels(make_router: RouterFactory, clock: ManualClock) -> None:
    router = make_router()
    router.core.boot()
    clock.advance(2)
    assert router.aws_telemetry(A) == AwsTunnelView("UP", 1, "1 BGP ROUTES")
    assert router.accepted_routes(A) == 1
    router.core.set_fault(Fault.BGP_DOWN)
    assert router.aws_telemetry(A) == AwsTunnelView("DOWN", 0, "IPSEC IS UP")
    router.core.set_fault(Fault.IPSEC_DOWN)
    assert router.aws_telemetry(A) == AwsTunnelView("DOWN", 0, "IPSEC IS DOWN")
    assert router.aws_telemetry("192.0.2.1") == AwsTunnelView("DOWN", 0, "IPSEC IS DOWN")


def test_import_policy_filters_what_aws_advertises(
    make_router: RouterFactory, clock: ManualClock
) -> None:
    configured = spoke_tunnels()
    advertised = [
        TunnelSpec.from_cidr(
            t.outside_ip, t.inside_cidr, t.psk, prefixes=("10.1.0.0/16", "172.16.0.0/12")
        )
        for t in configured
    ]
    config = article_config_commands(
        "s", 65002, configured, role="spoke", vpc_cidr="10.2.0.0/16", version="1.3"
    )
    router = make_router(version="1.3", tunnels=advertised, config_commands=config)
    router.core.boot()
    clock.advance(2)
    _, neighbors = router.core.neighbor_statuses()
    assert [n.received for n in neighbors] == [("10.1.0.0/16",)] * 2


def test_mismatches_keep_sessions_down(make_router: RouterFactory, clock: ManualClock) -> None:
    tunnels = spoke_tunnels()
    config = article_config_commands(
        "s", 65002, tunnels, role="spoke", vpc_cidr="10.2.0.0/16", version="1.1"
    )
    wrong_psk = [c.replace(tunnels[0].psk, "not-the-aws-key") for c in config]
    router = make_router(
        version="1.1",
        config_commands=[
            *wrong_psk,
            "set protocols bgp 65002 neighbor 169.254.10.5 shutdown",
            "set protocols bgp 65002 neighbor 192.0.2.77 remote-as '65077'",
        ],
    )
    router.core.boot()
    clock.advance(60)
    assert not router.tunnel_up(A) and router.tunnel_up(B)
    _, sas = router.core.sa_statuses()
    assert [(s.peer.remote_address, s.state) for s in sas] == [(A, "connecting"), (B, "up")]
    assert router.state_dict()["bgp"] == {
        "169.254.10.1": "Connect",
        "169.254.10.5": "Idle (Admin)",
        "192.0.2.77": "Active",
    }
    other_as = make_router(
        "wrong-as",
        version="1.1",
        config_commands=[c.replace("bgp 65002", "bgp 65099") for c in config],
    )
    other_as.core.boot()
    clock.advance(60)
    assert other_as.tunnel_up(A) and not other_as.bgp_up(A)


async def test_reboot_drops_sessions_and_renegotiates(
    make_router: RouterFactory, client_key: asyncssh.SSHKey, clock: ManualClock
) -> None:
    router = make_router()
    await router.start()
    clock.advance(100)
    await router.set_fault(Fault.BGP_DOWN)
    await router.reboot(clear_faults=False)
    assert router.alive and not router.tunnel_up(A)
    assert router.faults == {Fault.BGP_DOWN}
    _, neighbors = router.core.neighbor_statuses()
    assert [n.dropped_count for n in neighbors] == [1, 1]
    clock.advance(1.5)
    assert router.tunnel_up(A) and not router.bgp_up(A)
    await router.reboot()
    assert router.faults == set()
    clock.advance(1.5)
    assert router.bgp_up(A) and router.bgp_up(B)


def test_stuck_faults_are_cured_by_the_matching_soft_fix(
    make_router: RouterFactory, clock: ManualClock
) -> None:
    """bgp-stuck ends with `reset ip bgp`, ipsec-stuck with `restart vpn`; the -down faults
    stay until cleared (nothing the router does cures them)."""
    router = make_router()
    router.core.boot()
    clock.advance(2.0)
    assert router.bgp_up(A)
    router.core.set_fault(Fault.BGP_STUCK)
    clock.advance(0.1)
    assert not router.bgp_up(A) and router.tunnel_up(A)
    router.core.reset_bgp("all")
    clock.advance(1.5)
    assert router.bgp_up(A) and Fault.BGP_STUCK not in router.core.faults

    router.core.set_fault(Fault.IPSEC_STUCK)
    clock.advance(0.1)
    assert not router.tunnel_up(A)
    router.core.restart_vpn()
    clock.advance(0.6)
    assert router.tunnel_up(A) and Fault.IPSEC_STUCK not in router.core.faults

    router.core.set_fault(Fault.BGP_DOWN)
    router.core.reset_bgp("all")
    clock.advance(1.5)
    assert not router.bgp_up(A) and Fault.BGP_DOWN in router.core.faults
