"""Golden tests: what `render` produces for the article's spoke and hub is the article's own
command list with its placeholders filled in, written in the syntax of each VyOS version.

The article's lists are copied below as published (its typographic quotes made ASCII). The
translations into 1.3 and 1.4+ syntax are written here, from the VyOS sources cited in
docs/render.md, independently of the renderer. Both sides are normalised by the simulated
VyOS config tree, which also proves it accepts every rendered command.
"""

from __future__ import annotations

import re

import pytest

from tests.render.builders import hub_router, spoke1_router
from vpnwatch.lab.vyos_sim.checks import commit_problems
from vpnwatch.lab.vyos_sim.tree import ConfigTree, split_words
from vpnwatch.render import RouterIntent, VyosVersion, render_router

ARTICLE_COMMON = """
set vpn ipsec ike-group AWS lifetime '28800'
set vpn ipsec ike-group AWS proposal 1 dh-group '2'
set vpn ipsec ike-group AWS proposal 1 encryption 'aes128'
set vpn ipsec ike-group AWS proposal 1 hash 'sha1'
set vpn ipsec ipsec-interfaces interface 'eth0'
set vpn ipsec esp-group AWS compression 'disable'
set vpn ipsec esp-group AWS lifetime '3600'
set vpn ipsec esp-group AWS mode 'tunnel'
set vpn ipsec esp-group AWS pfs 'enable'
set vpn ipsec esp-group AWS proposal 1 encryption 'aes128'
set vpn ipsec esp-group AWS proposal 1 hash 'sha1'
set vpn ipsec ike-group AWS dead-peer-detection action 'restart'
set vpn ipsec ike-group AWS dead-peer-detection interval '15'
set vpn ipsec ike-group AWS dead-peer-detection timeout '30'
"""

# One connection (two tunnels), as the article configures it on every router.
ARTICLE_CONNECTION = """
set interfaces vti vti0 address '169.A.B.C/30'
set interfaces vti vti0 description 'Oregon to Virginia Tunnel 1'
set interfaces vti vti0 mtu '1436'
set interfaces vti vti1 address '169.A.B.D/30'
set interfaces vti vti1 description 'Oregon to Virginia VPC tunnel 2'
set interfaces vti vti1 mtu '1436'
set vpn ipsec site-to-site peer X.Y.Z.A authentication mode 'pre-shared-secret'
set vpn ipsec site-to-site peer X.Y.Z.A authentication pre-shared-secret 'XX1'
set vpn ipsec site-to-site peer X.Y.Z.A description 'VPC tunnel 1'
set vpn ipsec site-to-site peer X.Y.Z.A ike-group 'AWS'
set vpn ipsec site-to-site peer X.Y.Z.A local-address '10.A.B.C'
set vpn ipsec site-to-site peer X.Y.Z.A vti bind 'vti0'
set vpn ipsec site-to-site peer X.Y.Z.A vti esp-group 'AWS'
set vpn ipsec site-to-site peer A.B.C.D authentication mode 'pre-shared-secret'
set vpn ipsec site-to-site peer A.B.C.D authentication pre-shared-secret 'XX2'
set vpn ipsec site-to-site peer A.B.C.D description 'VPC tunnel 2'
set vpn ipsec site-to-site peer A.B.C.D ike-group 'AWS'
set vpn ipsec site-to-site peer A.B.C.D local-address '10.X.Y.Z'
set vpn ipsec site-to-site peer A.B.C.D vti bind 'vti1'
set vpn ipsec site-to-site peer A.B.C.D vti esp-group 'AWS'
set protocols bgp 650xy neighbor 169.A.B.E remote-as 'xyz1'
set protocols bgp 650xy neighbor 169.A.B.E soft-reconfiguration 'inbound'
set protocols bgp 650xy neighbor 169.A.B.E timers holdtime '30'
set protocols bgp 650xy neighbor 169.A.B.E timers keepalive '30'
set protocols bgp 650xy neighbor 169.A.B.F remote-as 'xyz1'
set protocols bgp 650xy neighbor 169.A.B.F soft-reconfiguration 'inbound'
set protocols bgp 650xy neighbor 169.A.B.F timers holdtime '30'
set protocols bgp 650xy neighbor 169.A.B.F timers keepalive '30'
"""

ARTICLE_SPOKE = """
set protocols static route 10.X.0.0/16 next-hop 10.X.0.1 distance 10
set protocols bgp 650xy network 10.X.0.0/16
set policy prefix-list IN rule 10 action permit
set policy prefix-list IN rule 10 prefix 10.Y.0.0/16
set policy prefix-list OUT rule 10 action permit
set policy prefix-list OUT rule 10 prefix 10.X.0.0/16
set policy route-map IN rule 10 action permit
set policy route-map IN rule 10 match ip address prefix-list IN
set policy route-map IN rule 20 action deny
set policy route-map OUT rule 10 action permit
set policy route-map OUT rule 10 match ip address prefix-list OUT
set policy route-map OUT rule 20 action deny
set protocols bgp 650xy neighbor 169.A.B.E route-map export OUT
set protocols bgp 650xy neighbor 169.A.B.E route-map import IN
set protocols bgp 650xy neighbor 169.A.B.F route-map export OUT
set protocols bgp 650xy neighbor 169.A.B.F route-map import IN
"""

ARTICLE_HUB = """
set protocols static route 10.Y.0.0/16 next-hop 10.Y.0.1 distance 10
set protocols static route 10.0.0.0/8 next-hop 10.Y.0.1 distance 100
set protocols bgp 650xy network 10.0.0.0/8
set policy prefix-list OUT rule 10 action permit
set policy prefix-list OUT rule 10 prefix 10.0.0.0/8
set policy route-map OUT rule 10 action permit
set policy route-map OUT rule 10 match ip address prefix-list OUT
set policy route-map OUT rule 20 action deny
"""

# The hub repeats this per spoke region (IN1, IN2, ...).
ARTICLE_HUB_IN = """
set policy prefix-list IN1 rule 10 action permit
set policy prefix-list IN1 rule 10 prefix 10.X.0.0/16
set policy route-map IN1 rule 10 action permit
set policy route-map IN1 rule 10 match ip address prefix-list IN1
set policy route-map IN1 rule 20 action deny
set protocols bgp 650xy neighbor 169.A.B.E route-map export OUT
set protocols bgp 650xy neighbor 169.A.B.E route-map import IN1
"""
# What the article's "…." after that list stands for: the pair's second neighbour.
ARTICLE_HUB_IN_ELIDED = """
set protocols bgp 650xy neighbor 169.A.B.F route-map export OUT
set protocols bgp 650xy neighbor 169.A.B.F route-map import IN1
"""


def _fill(text: str, values: dict[str, str]) -> list[str]:
    """The article's lines with its placeholders replaced."""
    lines = [line for line in text.split("\n") if line]
    if not values:
        return lines
    pattern = re.compile("|".join(re.escape(k) for k in sorted(values, key=len, reverse=True)))
    return [pattern.sub(lambda m: values[m.group(0)], line) for line in lines]


def _connection_values(router: RouterIntent, index: int, vti: int) -> dict[str, str]:
    c = router.connections[index]
    t1, t2 = c.params.tunnels
    vpn = c.params.vpn_connection_id
    return {
        "vti0": f"vti{vti}",
        "vti1": f"vti{vti + 1}",
        "169.A.B.C/30": f"{t1.router_inside_ip}/30",
        "169.A.B.D/30": f"{t2.router_inside_ip}/30",
        "169.A.B.E": t1.aws_inside_ip,
        "169.A.B.F": t2.aws_inside_ip,
        "X.Y.Z.A": t1.outside_ip,
        "A.B.C.D": t2.outside_ip,
        "XX1": t1.psk,
        "XX2": t2.psk,
        "10.A.B.C": router.private_ip,
        "10.X.Y.Z": router.private_ip,
        # descriptions are the operator's choice; render names the far site and tunnel
        "Oregon to Virginia Tunnel 1": f"{c.far_site} {vpn} tunnel 1",
        "Oregon to Virginia VPC tunnel 2": f"{c.far_site} {vpn} tunnel 2",
        "VPC tunnel 1": f"{c.far_site} {vpn} tunnel 1",
        "VPC tunnel 2": f"{c.far_site} {vpn} tunnel 2",
        "650xy": str(router.local_asn),
        "xyz1": str(c.params.aws_asn),
        # The article's keepalive '30' equals its hold time; AWS's own Vyatta download (and
        # RFC 4271's suggestion of a third of the hold time) uses 10: render follows AWS.
        "keepalive '30'": "keepalive '10'",
        "import IN1": "import IN1" if index == 0 else "import IN2",
        "IN1 ": "IN1 " if index == 0 else "IN2 ",
        "list IN1": "list IN1" if index == 0 else "list IN2",
    }


def _to_1_3(lines: list[str]) -> list[str]:
    """VyOS 1.2 moved per-neighbour policy and `network` under address-family ipv4-unicast
    (vyatta-cfg-quagga equuleus templates)."""
    out = []
    for line in lines:
        line = line.replace(
            " soft-reconfiguration 'inbound'",
            " address-family ipv4-unicast soft-reconfiguration inbound",
        )
        line = re.sub(
            r" (neighbor \S+) route-map ", r" \1 address-family ipv4-unicast route-map ", line
        )
        line = re.sub(
            r"(protocols bgp \d+) network ", r"\1 address-family ipv4-unicast network ", line
        )
        out.append(line)
    return out


def _to_1_4(lines: list[str], peers: dict[str, str]) -> list[str]:
    """1.4/1.5: `vpn ipsec interface`, named peers with remote-address, keys under
    `authentication psk`, valueless `compression` (dropped), `protocols bgp system-as`."""
    out = ["set vpn ipsec options disable-route-autoinstall"]
    for line in lines:
        if "esp-group AWS compression" in line:
            continue
        line = line.replace("ipsec-interfaces interface", "interface")
        found = re.match(r"set protocols bgp (\d+) (.*)", line)
        if found:
            out.append(f"set protocols bgp system-as '{found.group(1)}'")
            line = f"set protocols bgp {found.group(2)}"
        found = re.match(r"set vpn ipsec site-to-site peer (\S+) (.*)", line)
        if found:
            address, rest = found.groups()
            name = peers[address]
            out.append(f"set vpn ipsec site-to-site peer {name} remote-address '{address}'")
            secret = re.match(r"authentication pre-shared-secret '(.*)'", rest)
            if secret:
                out.append(f"set vpn ipsec authentication psk {name} id '{address}'")
                out.append(f"set vpn ipsec authentication psk {name} secret '{secret.group(1)}'")
                continue
            line = f"set vpn ipsec site-to-site peer {name} {rest}"
        out.append(line)
    return out


def _normalised(version: VyosVersion, lines: list[str]) -> list[str]:
    """What VyOS shows after `set`ting these lines (quoting and order are VyOS's)."""
    tree = ConfigTree(version)
    for line in lines:
        tree.set(split_words(line)[1:])
    return tree.commands()


def _peer_names(router: RouterIntent) -> dict[str, str]:
    return {
        t.outside_ip: f"{c.params.vpn_connection_id}-{k}"
        for c in router.connections
        for k, t in enumerate(c.params.tunnels, start=1)
    }


def _article(router: RouterIntent, version: VyosVersion) -> list[str]:
    lines = _fill(ARTICLE_COMMON, {})
    for index in range(len(router.connections)):
        values = _connection_values(router, index, 2 * index)
        lines += _fill(ARTICLE_CONNECTION, values)
        if router.site.role == "hub":
            lines += _fill(ARTICLE_HUB_IN + ARTICLE_HUB_IN_ELIDED, values)
            far = router.connections[index].accept[0]
            lines = [line.replace("10.X.0.0/16", far) for line in lines]
    site_values = {
        "10.X.0.0/16": router.site.vpc_cidr,
        "10.Y.0.0/16": router.site.vpc_cidr,
        "10.X.0.1": router.vpc_router_ip,
        "10.Y.0.1": router.vpc_router_ip,
        "650xy": str(router.local_asn),
    }
    if router.site.role == "spoke":
        site_values["10.Y.0.0/16"] = router.connections[0].accept[0]
        lines += _fill(ARTICLE_SPOKE, _connection_values(router, 0, 0) | site_values)
    else:
        lines += _fill(ARTICLE_HUB, site_values)
    lines = _to_1_3(lines)
    if version != "1.3":
        lines = _to_1_4(lines, _peer_names(router))
    return _normalised(version, lines)


@pytest.mark.parametrize("version", ["1.3", "1.4", "1.5"])
@pytest.mark.parametrize("router", [spoke1_router(), hub_router()], ids=["spoke", "hub"])
def test_render_is_the_article_with_its_placeholders_filled(
    router: RouterIntent, version: VyosVersion
) -> None:
    rendered = render_router(router, version)
    assert _normalised(version, list(rendered.commands)) == _article(router, version)
    # the simulated VyOS of that version takes every line and commits the result
    tree = ConfigTree(version)
    for line in rendered.commands:
        tree.set(split_words(line)[1:])
    assert commit_problems(tree) == []
    assert list(rendered.commands) == tree.commands()  # already in VyOS's canonical form


@pytest.mark.parametrize("version", ["1.4", "1.5"])
def test_1_4_and_later_use_only_the_new_syntax(version: VyosVersion) -> None:
    text = "\n".join(render_router(hub_router(), version).commands)
    for old in (
        "ipsec-interfaces",
        "authentication pre-shared-secret",
        "compression",
        "dead-peer-detection action 'hold'",
    ):
        assert old not in text
    assert not re.search(r"protocols bgp \d", text)
    assert not re.search(r"site-to-site peer \d+\.\d+\.\d+\.\d+ ", text)
    assert "set protocols bgp system-as '65000'" in text


def test_1_3_uses_the_old_syntax() -> None:
    text = "\n".join(render_router(spoke1_router(), "1.3").commands)
    assert "set vpn ipsec ipsec-interfaces interface 'eth0'" in text
    assert "set vpn ipsec site-to-site peer 198.51.100.1 authentication pre-shared-secret" in text
    assert "system-as" not in text and "remote-address" not in text
