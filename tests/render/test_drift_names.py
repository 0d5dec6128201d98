"""Drift by meaning: a router configured by hand (the lab's article configs, other names for
peers, keys, VTIs, groups and policies) agrees with its rendered config; a real
disagreement with AWS (key, inside address, ASN, a missing tunnel) still drifts."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from tests.render.builders import hub_router, spoke1_router
from vpnwatch.lab.vyos_sim import TunnelSpec, article_config_commands
from vpnwatch.lab.vyos_sim.tree import ConfigTree, split_words
from vpnwatch.render import (
    RouterIntent,
    VyosVersion,
    align_commands,
    render_router,
    vpn_drift,
)
from vpnwatch.render.names import one_to_one

VERSIONS: tuple[VyosVersion, ...] = ("1.3", "1.4", "1.5")


def _tunnels(router: RouterIntent) -> list[TunnelSpec]:
    return [
        TunnelSpec.from_cidr(t.outside_ip, t.inside_cidr, t.psk, prefixes=c.accept)
        for c in router.connections
        for t in c.params.tunnels
    ]


def _by_hand(
    router: RouterIntent, version: VyosVersion, tunnels: Sequence[TunnelSpec] | None = None
) -> list[str]:
    """The lab's hand-built config of `router`, as the (simulated) router prints it."""
    commands = article_config_commands(
        router.name,
        router.local_asn,
        _tunnels(router) if tunnels is None else tunnels,
        role=router.site.role,
        vpc_cidr=router.site.vpc_cidr,
        private_ip=router.private_ip,
        version=version,
        summary_cidr=router.site.advertise,
    )
    return _printed(version, commands)


def _printed(version: VyosVersion, commands: Sequence[str]) -> list[str]:
    tree = ConfigTree(version)
    for line in commands:
        tree.set(split_words(line)[1:])
    return tree.commands()


def _rendered(router: RouterIntent, version: VyosVersion) -> tuple[str, ...]:
    return render_router(router, version).commands


def _edit(lines: Sequence[str], old: str, new: str) -> list[str]:
    assert any(old in line for line in lines), old
    return [line.replace(old, new) for line in lines]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("router", [spoke1_router(), hub_router()], ids=["spoke", "hub"])
def test_the_labs_hand_built_routers_match_aws(router: RouterIntent, version: VyosVersion) -> None:
    running = _by_hand(router, version)
    assert not set(_rendered(router, version)) <= set(running)  # other names, literally
    drift = vpn_drift(running, _rendered(router, version))
    assert drift.drifted == (), drift.reason()


@pytest.mark.parametrize("version", VERSIONS)
def test_every_kind_of_name_is_matched_by_meaning(version: VyosVersion) -> None:
    """Groups, policies and VTIs renamed; VTI numbers swapped (matched by address)."""
    running = _by_hand(spoke1_router(), version)
    for old, new in [
        ("ike-group AWS", "ike-group AWS-IKE"),
        ("ike-group 'AWS'", "ike-group 'AWS-IKE'"),
        ("esp-group AWS", "esp-group AWS-ESP"),
        ("esp-group 'AWS'", "esp-group 'AWS-ESP'"),
        ("route-map IN ", "route-map FROM-HUB "),
        ("import 'IN'", "import 'FROM-HUB'"),
        ("prefix-list IN ", "prefix-list HUB-NETS "),
        ("prefix-list 'IN'", "prefix-list 'HUB-NETS'"),
        ("vti0", "vtiX"),
        ("vti1", "vti0"),
        ("vtiX", "vti1"),
    ]:
        running = _edit(running, old, new)
    assert vpn_drift(running, _rendered(spoke1_router(), version)).drifted == ()


@pytest.mark.parametrize("version", VERSIONS)
def test_a_changed_key_is_peer_drift_only_and_never_said(version: VyosVersion) -> None:
    running = _edit(_by_hand(spoke1_router(), version), "Key.tunnel_1A", "Key.stolen_1A")
    drift = vpn_drift(running, _rendered(spoke1_router(), version))
    assert drift.drifted == ("peer",)
    assert "Key." not in drift.reason() + repr(drift)


@pytest.mark.parametrize("version", VERSIONS)
def test_nothing_to_align_without_drift_and_literal_alignment_with_it(
    version: VyosVersion,
) -> None:
    rendered = _rendered(spoke1_router(), version)
    running = _by_hand(spoke1_router(), version)
    assert align_commands(running, rendered) == ()
    wrong = _edit(running, "Key.tunnel_1B", "Key.stolen_1B")
    aligned = align_commands(wrong, rendered)
    assert aligned
    tree = ConfigTree(version)
    for line in wrong:
        tree.set(split_words(line)[1:])
    for line in aligned:
        words = split_words(line)
        (tree.delete if words[0] == "delete" else tree.set)(words[1:])
    assert vpn_drift(tree.commands(), rendered).drifted == ()
    assert set(rendered) <= set(tree.commands())  # the rendered names, literally


@pytest.mark.parametrize("version", VERSIONS)
def test_a_changed_inside_address_is_vti_and_bgp_drift(version: VyosVersion) -> None:
    running = _edit(_by_hand(spoke1_router(), version), "169.254.10.2/30", "169.254.99.2/30")
    running = _edit(running, "neighbor 169.254.10.1 ", "neighbor 169.254.99.1 ")
    drift = vpn_drift(running, _rendered(spoke1_router(), version))
    assert drift.drifted == ("vti", "bgp")
    # the VTI was still matched (by the peer's binding): one address differs, nothing more
    vti = next(s for s in drift.sections if s.section == "vti")
    assert (vti.missing, vti.extra) == (1, 1)


@pytest.mark.parametrize("version", VERSIONS)
def test_a_missing_tunnel_drifts(version: VyosVersion) -> None:
    router = spoke1_router()
    running = _by_hand(router, version, _tunnels(router)[:1])
    drift = vpn_drift(running, _rendered(router, version))
    assert {"peer", "vti", "bgp"} <= set(drift.drifted)


def test_a_wrong_asn_or_peer_address_drifts() -> None:
    rendered = _rendered(spoke1_router(), "1.4")
    running = _by_hand(spoke1_router(), "1.4")
    assert vpn_drift(
        _edit(running, "system-as '65000'", "system-as '65099'"), rendered
    ).drifted == ("bgp",)
    moved = _edit(running, "'198.51.100.2'", "'192.0.2.9'")  # remote address and key id
    assert vpn_drift(moved, rendered).drifted == ("peer",)


def test_two_peers_that_could_be_one_tunnel_are_not_renamed() -> None:
    """A second peer to the same AWS address: neither is taken for the rendered one."""
    running = _by_hand(spoke1_router(), "1.4")
    twin = [
        line.replace("peer AWS-1 ", "peer AWS-3 ")
        for line in running
        if "peer AWS-1 " in line and "vti bind" not in line
    ]
    drift = vpn_drift(_printed("1.4", [*running, *twin]), _rendered(spoke1_router(), "1.4"))
    peer = next(s for s in drift.sections if s.section == "peer")
    assert peer.missing > 0 and peer.extra > 0  # vpn-0a1-1 missing, AWS-1 and AWS-3 extra


def test_one_to_one_keeps_only_unambiguous_pairs() -> None:
    pairs = [("a", "x"), ("b", "x"), ("c", "y"), ("d", "z"), ("d", "w"), ("e", "e")]
    assert one_to_one(pairs) == {"c": "y", "e": "e"}
    assert one_to_one([("a", "x"), ("a", "x")]) == {"a": "x"}
