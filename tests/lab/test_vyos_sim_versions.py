"""VyOS 1.3 / 1.4 / 1.5 syntax in the simulated config tree, and what AWS's side of a tunnel
demands of the router's config (key, proposals, inside address), including AWS changing it."""

# ruff: noqa: F811

from __future__ import annotations

import dataclasses
import shlex

import pytest

from tests.lab.test_vyos_sim_support import (  # noqa: F401 - fixtures
    ManualClock,
    RouterFactory,
    client_key,
    clock,
    make_router,
    spoke_tunnels,
)
from vpnwatch.lab.vyos_sim import SimulatedRouter, Version, article_config_commands
from vpnwatch.lab.vyos_sim.checks import commit_problems
from vpnwatch.lab.vyos_sim.negotiation import AwsCrypto
from vpnwatch.lab.vyos_sim.tree import ConfigPathError, ConfigTree, tree_from_commands

A, B = "203.0.113.10", "203.0.113.11"


def _set(version: Version, line: str) -> ConfigTree:
    tree = ConfigTree(version)
    tree.set(shlex.split(line))
    return tree


@pytest.mark.parametrize("version", ["1.4", "1.5"])
def test_1_4_and_later_refuse_peers_named_by_address(version: Version) -> None:
    with pytest.raises(ConfigPathError, match="Peer connection name must be alphanumeric"):
        _set(version, "vpn ipsec site-to-site peer 203.0.113.10 ike-group AWS")
    _set(version, "vpn ipsec site-to-site peer vpn-0a1b-t1 remote-address 203.0.113.10")


def test_1_3_names_peers_by_address_and_has_no_remote_address() -> None:
    _set("1.3", "vpn ipsec site-to-site peer 203.0.113.10 ike-group AWS")
    with pytest.raises(ConfigPathError, match="is not valid"):
        _set("1.3", "vpn ipsec site-to-site peer x remote-address 203.0.113.10")


@pytest.mark.parametrize(
    ("version", "line", "accepted"),
    [
        ("1.3", "vpn ipsec esp-group AWS compression disable", True),
        ("1.4", "vpn ipsec esp-group AWS compression disable", False),  # valueless from 1.4
        ("1.5", "vpn ipsec esp-group AWS compression", True),
        ("1.3", "vpn ipsec ike-group AWS dead-peer-detection action hold", True),
        ("1.4", "vpn ipsec ike-group AWS dead-peer-detection action hold", False),  # now trap
        ("1.5", "vpn ipsec ike-group AWS dead-peer-detection action trap", True),
        ("1.3", "vpn ipsec ike-group AWS dead-peer-detection action trap", False),
        ("1.3", "vpn ipsec ipsec-interfaces interface eth0", True),
        ("1.4", "vpn ipsec ipsec-interfaces interface eth0", False),
        ("1.5", "vpn ipsec interface eth0", True),
        ("1.3", "vpn ipsec interface eth0", False),
        ("1.3", "vpn ipsec options disable-route-autoinstall", False),
        ("1.5", "vpn ipsec options disable-route-autoinstall", True),
        ("1.3", "vpn ipsec authentication psk x secret abc", False),
        ("1.4", "vpn ipsec site-to-site peer x authentication pre-shared-secret abc", False),
        ("1.3", "protocols bgp system-as 65000", False),
        ("1.5", "protocols bgp 65000 neighbor 169.254.1.1 remote-as 64512", False),
        ("1.5", "protocols bgp neighbor 169.254.1.1 remote-as 64512", True),
        ("1.4", "system syslog global facility all level info", True),
        ("1.5", "system syslog global facility all level info", False),  # renamed `local`
        ("1.5", "system syslog local facility all level info", True),
        ("1.5", "system ntp server time1.vyos.net", False),
        ("1.3", "service ntp server time1.vyos.net", False),
    ],
)
def test_paths_each_version_accepts(version: Version, line: str, accepted: bool) -> None:
    if accepted:
        _set(version, line)
    else:
        with pytest.raises(ConfigPathError):
            _set(version, line)


@pytest.mark.parametrize("version", ["1.3", "1.4", "1.5"])
def test_the_labs_article_config_is_valid_in_every_version(version: Version) -> None:
    config = article_config_commands(
        "s", 65002, spoke_tunnels(), role="spoke", vpc_cidr="10.2.0.0/16", version=version
    )
    assert commit_problems(tree_from_commands(version, config)) == []


def test_1_4_psk_entry_needs_ids_and_secret() -> None:
    config = article_config_commands(
        "s", 65002, spoke_tunnels(), role="spoke", vpc_cidr="10.2.0.0/16", version="1.5"
    )
    without_ids = [c for c in config if "authentication psk AWS-1 id" not in c]
    problems = [p.message for p in commit_problems(tree_from_commands("1.5", without_ids))]
    assert 'Authentication psk "AWS-1" missing "id" or "secret"' in problems


def _spoke(make_router: RouterFactory, version: Version, **kwargs: object) -> SimulatedRouter:
    tunnels = kwargs.pop("tunnels", None) or spoke_tunnels()
    config = article_config_commands(
        "s", 65002, tunnels, role="spoke", vpc_cidr="10.2.0.0/16", version=version
    )
    return make_router(version=version, tunnels=tunnels, config_commands=config, **kwargs)


def test_a_proposal_aws_does_not_permit_keeps_the_tunnel_down(
    make_router: RouterFactory, clock: ManualClock
) -> None:
    only_aes256 = AwsCrypto(phase1_encryption=("AES256",))
    tunnels = spoke_tunnels()
    tunnels[0] = dataclasses.replace(tunnels[0], crypto=only_aes256)
    router = _spoke(make_router, "1.4", tunnels=tunnels)
    router.core.boot()
    clock.advance(60)
    assert not router.tunnel_up(A) and router.tunnel_up(B)
    assert router.aws_telemetry(A).status == "DOWN"


@pytest.mark.parametrize("version", ["1.3", "1.4", "1.5"])
def test_aws_changing_a_key_drops_the_tunnel_until_the_router_has_it(
    make_router: RouterFactory, clock: ManualClock, version: Version
) -> None:
    router = _spoke(make_router, version)
    router.core.boot()
    clock.advance(10)
    assert router.bgp_up(A)
    old = spoke_tunnels()[0]
    new = dataclasses.replace(old, psk="Rotated.key_0001")
    assert router.update_tunnel(new)
    assert not router.tunnel_up(A)
    clock.advance(60)
    assert not router.tunnel_up(A) and not router.bgp_up(A)
    assert router.tunnel_up(B) and router.bgp_up(B)
    # the router learns the new key: the tunnel comes back
    running = router.running_config_commands()
    fixed = [c.replace(old.psk, new.psk) for c in running]
    router.core.commit(tree_from_commands(version, fixed))
    clock.advance(5)
    assert router.tunnel_up(A) and router.bgp_up(A)


def test_aws_moving_the_inside_cidr_keeps_bgp_down_until_the_vti_follows(
    make_router: RouterFactory, clock: ManualClock
) -> None:
    router = _spoke(make_router, "1.4")
    router.core.boot()
    clock.advance(10)
    old = spoke_tunnels()[0]
    new = dataclasses.replace(
        old,
        inside_cidr="169.254.77.0/30",
        aws_inside_ip="169.254.77.1",
        router_inside_ip="169.254.77.2",
    )
    router.update_tunnel(new)
    clock.advance(60)
    # IPsec still agrees (same key), BGP has no neighbour at AWS's new inside address
    assert router.tunnel_up(A) and not router.bgp_up(A)
    assert router.aws_telemetry(A).status_message == "IPSEC IS UP"
    running = router.running_config_commands()
    moved = [
        c.replace("169.254.10.2/30", "169.254.77.2/30").replace("169.254.10.1", "169.254.77.1")
        for c in running
    ]
    router.core.commit(tree_from_commands("1.4", moved))
    clock.advance(5)
    assert router.bgp_up(A)
