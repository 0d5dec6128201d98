"""Drift between a router's running configuration and its rendered one: sections named,
values never; and the commands that bring the router back in line."""

from __future__ import annotations

import pytest

from tests.render.builders import hub_router, spoke1_router
from vpnwatch.errors import ParseError
from vpnwatch.lab.vyos_sim.tree import ConfigTree, split_words
from vpnwatch.render import SECTIONS, VyosVersion, align_commands, mask, render_router, vpn_drift

AMI = [  # what a router has besides the VPN part (never drift)
    "set interfaces ethernet eth0 address 'dhcp'",
    "set system host-name 'spoke1-r1'",
    "set protocols static route 0.0.0.0/0 next-hop 10.1.0.1",
    "set policy route-map OPERATOR rule 10 action 'permit'",
]


def _rendered(version: VyosVersion = "1.4") -> list[str]:
    return list(render_router(spoke1_router(), version).commands)


def _apply(version: VyosVersion, running: list[str], commands: tuple[str, ...]) -> list[str]:
    """The running config after `commands`, as the simulated VyOS applies them."""
    tree = ConfigTree(version)
    for line in running:
        tree.set(split_words(line)[1:])
    for line in commands:
        words = split_words(line)
        (tree.delete if words[0] == "delete" else tree.set)(words[1:])
    return tree.commands()


def _edit(lines: list[str], old: str, new: str) -> list[str]:
    assert any(old in line for line in lines), old
    return [line.replace(old, new) for line in lines]


@pytest.mark.parametrize("version", ["1.3", "1.4", "1.5"])
def test_a_router_in_line_has_no_drift(version: VyosVersion) -> None:
    drift = vpn_drift([*AMI, *_rendered(version)], _rendered(version))
    assert drift.drifted == ()
    assert [s.section for s in drift.sections] == list(SECTIONS)
    assert drift.reason() == "VPN configuration matches AWS"
    assert align_commands([*AMI, *_rendered(version)], _rendered(version)) == ()


@pytest.mark.parametrize(
    ("version", "old", "new", "sections"),
    [
        ("1.4", "Key.tunnel_1A", "Key.rotated_1A", ("peer",)),
        ("1.3", "Key.tunnel_1A", "Key.rotated_1A", ("peer",)),
        ("1.4", "169.254.10.2/30", "169.254.99.2/30", ("vti",)),
        ("1.4", "neighbor 169.254.10.1 ", "neighbor 169.254.99.1 ", ("bgp",)),
        ("1.3", "protocols bgp 65000 ", "protocols bgp 65001 ", ("bgp",)),
        ("1.4", "remote-address '198.51.100.2'", "remote-address '192.0.2.9'", ("peer",)),
        ("1.4", "prefix '10.0.0.0/16'", "prefix '10.9.0.0/16'", ("policy",)),
        ("1.4", "lifetime '28800'", "lifetime '3600'", ("ike",)),
        ("1.4", "pfs 'enable'", "pfs 'dh-group14'", ("esp",)),
        ("1.4", "next-hop 10.1.0.1 distance '10'", "next-hop 10.1.0.1 distance '20'", ("static",)),
    ],
)
def test_each_change_names_its_section_and_no_value(
    version: VyosVersion, old: str, new: str, sections: tuple[str, ...]
) -> None:
    rendered = _rendered(version)
    running = [*AMI, *_edit(rendered, old, new)]
    drift = vpn_drift(running, rendered)
    assert drift.drifted == sections
    for text in (drift.reason(), repr(drift)):
        for secret in ("Key.", "169.254", "198.51", "10.0.0.0", "65001"):
            assert secret not in text
    aligned = align_commands(running, rendered)
    assert aligned  # something to do ...
    after = _apply(version, running, aligned)
    assert vpn_drift(after, rendered).drifted == ()  # ... and it is enough
    assert sorted(set(rendered) - set(after)) == []


def test_a_key_change_needs_no_delete_a_moved_address_does() -> None:
    rendered = _rendered()
    key = align_commands(_edit(rendered, "Key.tunnel_1A", "Key.rotated_1A"), rendered)
    assert key == ("set vpn ipsec authentication psk vpn-0a1-1 secret 'Key.tunnel_1A'",)
    assert mask(key) == (
        "set vpn ipsec authentication psk vpn-0a1-1 secret '<hidden: add --show-secrets>'",
    )
    moved = align_commands(_edit(rendered, "169.254.10.2/30", "169.254.99.2/30"), rendered)
    assert moved == (
        "delete interfaces vti vti0 address '169.254.99.2/30'",
        "set interfaces vti vti0 address '169.254.10.2/30'",
    )


def test_stale_tunnels_and_neighbours_are_drift_and_deleted_whole() -> None:
    rendered = list(render_router(hub_router(), "1.4").commands)
    stale = [
        "set interfaces vti vti9 address '169.254.77.2/30'",
        "set vpn ipsec site-to-site peer vpn-old-1 remote-address '192.0.2.1'",
        "set vpn ipsec site-to-site peer vpn-old-1 vti bind 'vti9'",
        "set vpn ipsec authentication psk vpn-old-1 id '192.0.2.1'",
        "set vpn ipsec authentication psk vpn-old-1 secret 'Old.key_1234'",
        "set protocols bgp neighbor 169.254.77.1 remote-as '64512'",
        "set protocols bgp neighbor 169.254.77.1 timers holdtime '30'",
    ]
    running = [*AMI, *rendered, *stale]
    drift = vpn_drift(running, rendered)
    assert drift.drifted == ("peer", "vti", "bgp")
    assert {s.section: (s.missing, s.extra) for s in drift.sections if s.drifted} == {
        "peer": (0, 4),
        "vti": (0, 1),
        "bgp": (0, 2),
    }
    assert align_commands(running, rendered) == (
        "delete interfaces vti vti9",
        "delete protocols bgp neighbor 169.254.77.1",
        "delete vpn ipsec authentication psk vpn-old-1",
        "delete vpn ipsec site-to-site peer vpn-old-1",
    )


def test_a_blank_router_misses_everything_and_gets_every_line() -> None:
    rendered = _rendered()
    drift = vpn_drift(AMI, rendered)
    assert set(drift.drifted) == set(SECTIONS)
    assert align_commands(AMI, rendered) == tuple(rendered)


def test_operator_additions_outside_vpnwatch_ground_are_not_drift() -> None:
    rendered = _rendered()
    running = [
        *AMI,
        *rendered,
        "set protocols static route 192.168.0.0/16 blackhole distance '250'",
        "set policy prefix-list OPERATOR rule 10 action 'permit'",
    ]
    assert vpn_drift(running, rendered).drifted == ()


def test_lines_that_are_not_set_commands_are_refused() -> None:
    with pytest.raises(ParseError):
        vpn_drift(["interfaces {"], _rendered())
