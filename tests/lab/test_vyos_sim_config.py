"""The simulated config tree, schema, commit checks and the vbash script interpreter."""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.lab.test_vyos_sim_support import ManualClock, config_script, spoke_tunnels
from vpnwatch.lab.vyos_sim import (
    VERSIONS,
    Timings,
    TunnelSpec,
    article_config_commands,
    base_config_commands,
)
from vpnwatch.lab.vyos_sim.checks import commit_problems
from vpnwatch.lab.vyos_sim.core import RouterCore
from vpnwatch.lab.vyos_sim.formats import Version
from vpnwatch.lab.vyos_sim.script import run_script
from vpnwatch.lab.vyos_sim.tree import (
    ConfigPathError,
    ConfigTree,
    parse_boot_text,
    split_words,
    tree_from_commands,
)

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGH5fGgBdTgC1nD8E/TekwJAet/K4f1f8DiBiQ4NYry/ lab"


def _hub_tunnels() -> list[TunnelSpec]:
    spoke1, spoke2 = ("10.2.0.0/16",), ("10.3.0.0/16",)
    return [
        TunnelSpec.from_cidr(
            f"198.51.100.{n}",
            f"169.254.20.{4 * n}/30",
            f"Hub.psk-{n}xyz",
            prefixes=spoke1 if n < 2 else spoke2,
        )
        for n in range(4)
    ]


def _full_config(version: Version, role: str = "spoke") -> list[str]:
    tunnels = spoke_tunnels() if role == "spoke" else _hub_tunnels()
    vpc = "10.2.0.0/16" if role == "spoke" else "10.1.0.0/16"
    return [
        *base_config_commands(version, mac="0a:00:00:00:00:01", client_key=KEY),
        *article_config_commands(
            "r",
            65002,
            tunnels,
            role=role,  # type: ignore[arg-type]
            vpc_cidr=vpc,
            version=version,
        ),
    ]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("role", ["hub", "spoke"])
def test_article_config_is_valid_and_round_trips(version: Version, role: str) -> None:
    tree = tree_from_commands(version, _full_config(version, role))
    assert commit_problems(tree) == []
    for margin in ("", " "):
        again = ConfigTree(version)
        for words in parse_boot_text(tree.boot_text(margin=margin)):
            again.set(words)
        assert again == tree
    assert tree_from_commands(version, tree.commands()) == tree


def test_hub_gets_one_import_policy_per_spoke() -> None:
    commands = article_config_commands(
        "hub-a", 65001, _hub_tunnels(), role="hub", vpc_cidr="10.1.0.0/16", version="1.1"
    )
    assert "set policy prefix-list IN1 rule 10 prefix '10.2.0.0/16'" in commands
    assert "set policy prefix-list IN2 rule 10 prefix '10.3.0.0/16'" in commands
    assert "set policy prefix-list OUT rule 10 prefix '10.0.0.0/8'" in commands
    assert "set protocols bgp 65001 network 10.0.0.0/8" in commands
    assert "set protocols bgp 65001 neighbor 169.254.20.13 route-map import 'IN2'" in commands


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (
            "protocols bgp 65002 neighbor 169.254.1.1 warp 9",
            "Configuration path: [protocols bgp 65002 neighbor 169.254.1.1 warp 9] is not valid",
        ),
        (
            "protocols bgp 65002 neighbor 169.254.1.300 remote-as 1",
            '"169.254.1.300" is not a valid IPv4 address',
        ),
        ("protocols bgp 0 parameters log-neighbor-changes", '"0" is not a valid AS number'),
        ("interfaces vti vti0 address 169.254.1.2", "is not a valid IPv4 address with prefix"),
        ("interfaces vti eth0 mtu 1436", "is not a valid VTI interface name"),
        ("system host-name", "Configuration path: [system host-name] requires a value"),
        ("protocols static route 10.1.2.3/16 blackhole", "is not a valid IPv4 prefix"),
    ],
)
def test_set_refuses_bad_paths_and_values(words: str, message: str) -> None:
    with pytest.raises(ConfigPathError) as caught:
        ConfigTree("1.1").set(words.split())
    assert any(message in line for line in caught.value.lines)


def test_delete_prunes_empty_nodes_but_keeps_tag_entries() -> None:
    tree = tree_from_commands(
        "1.3",
        [
            "set interfaces ethernet eth0 address 'dhcp'",
            "set interfaces ethernet eth0 address '10.0.0.10/24'",
            "set protocols static route 10.5.0.0/16 next-hop 10.0.0.1 distance '10'",
            "set system time-zone 'UTC'",
        ],
    )
    tree.delete(shlex.split("interfaces ethernet eth0 address dhcp"))
    tree.delete(shlex.split("protocols static route 10.5.0.0/16 next-hop 10.0.0.1 distance"))
    tree.delete(shlex.split("system time-zone"))
    assert tree.commands() == [
        "set interfaces ethernet eth0 address '10.0.0.10/24'",
        "set protocols static route 10.5.0.0/16 next-hop 10.0.0.1",
    ]
    with pytest.raises(ConfigPathError, match="Nothing to delete"):
        tree.delete(shlex.split("system ntp"))


def test_version_specific_paths() -> None:
    with pytest.raises(ConfigPathError, match="is not valid"):
        ConfigTree("1.4").set(shlex.split("protocols bgp 65000 neighbor 169.254.1.1 remote-as 1"))
    with pytest.raises(ConfigPathError, match="is not valid"):
        ConfigTree("1.1").set(
            shlex.split(
                "protocols bgp 65000 neighbor 169.254.1.1 address-family ipv4-unicast "
                "soft-reconfiguration inbound"
            )
        )
    tree = ConfigTree("1.3")
    tree.set(shlex.split("protocols bgp 65000 neighbor 169.254.1.1 remote-as external"))
    assert tree.commands() == ["set protocols bgp 65000 neighbor 169.254.1.1 remote-as 'external'"]


@pytest.mark.parametrize(
    ("version", "extra", "message"),
    [
        (
            "1.3",
            "set protocols bgp 65002 neighbor 169.254.10.1 address-family ipv4-unicast "
            "route-map import 'NOPE'",
            'Route-map "NOPE" used for "import" does not exist!',
        ),
        (
            "1.1",
            "set vpn ipsec site-to-site peer 203.0.113.10 ike-group 'NOPE'",
            'Invalid ike-group "NOPE" referenced by peer "203.0.113.10"!',
        ),
        (
            "1.1",
            "set vpn ipsec site-to-site peer 203.0.113.10 vti bind 'vti7'",
            'VTI interface vti7 for site-to-site peer "203.0.113.10" does not exist!',
        ),
        (
            "1.4",
            "set vpn ipsec site-to-site peer AWS-9 ike-group 'AWS'",
            'Peer "AWS-9" requires remote-address!',
        ),
        (
            "1.1",
            "set policy route-map OUT rule 30 description 'no action'",
            "Action must be specified!",
        ),
    ],
)
def test_commit_checks(version: Version, extra: str, message: str) -> None:
    tree = tree_from_commands(version, [*_full_config(version), extra])
    assert message in [p.message for p in commit_problems(tree)]


def test_1_1_accepts_a_route_map_that_does_not_exist() -> None:
    tree = tree_from_commands(
        "1.1",
        [
            *_full_config("1.1"),
            "set protocols bgp 65002 neighbor 169.254.10.1 route-map import 'NOPE'",
        ],
    )
    assert commit_problems(tree) == []


def test_1_4_without_psk_entry_fails() -> None:
    config = [c for c in _full_config("1.4") if "authentication psk AWS-1 " not in c]
    problems = [p.message for p in commit_problems(tree_from_commands("1.4", config))]
    assert problems == ['No pre-shared secret found for peer "AWS-1"!']


@given(st.text(alphabet="ab '\"\\\t", max_size=12))
def test_split_words_agrees_with_shlex(line: str) -> None:
    try:
        expected: list[str] | None = shlex.split(line)
    except ValueError:
        expected = None
    try:
        got: list[str] | None = split_words(line)
    except ValueError:
        got = None
    assert got == expected


@pytest.fixture
def manual() -> ManualClock:
    return ManualClock()


@pytest.fixture
def core(tmp_path: Path, manual: ManualClock) -> Iterator[RouterCore]:
    initial = tree_from_commands("1.3", _full_config("1.3"))
    router = RouterCore(
        name="r",
        version="1.3",
        local_as=65002,
        private_ip="10.0.0.10",
        tunnels=spoke_tunnels(),
        clock=manual,
        timings=Timings(),
        fs_root=tmp_path,
        initial=initial,
    )
    router.boot()
    yield router
    router.power_off()


def test_script_needs_the_template(core: RouterCore) -> None:
    result = run_script(core, "configure\nset system time-zone 'X'\ncommit\n")
    assert result.status == 1
    assert "configure: command not found" in result.stderr
    assert "commit: command not found" in result.stderr
    assert "set system time-zone 'X'" not in core.running.commands()


def test_script_exit_with_uncommitted_changes(core: RouterCore) -> None:
    refused = run_script(core, config_script("set system time-zone 'Europe/Paris'"))
    assert refused.status == 1 and "Cannot exit: configuration modified." in refused.stdout
    discarded = run_script(
        core, config_script("set system time-zone 'Europe/Paris'", "exit discard")
    )
    assert discarded.status == 0
    unchanged = run_script(core, config_script("commit"))
    assert unchanged.status == 0 and "No configuration changes to commit" in unchanged.stdout
    assert "set system time-zone 'Europe/Paris'" not in core.running.commands()


def test_script_save_warns_about_uncommitted_changes(core: RouterCore) -> None:
    result = run_script(
        core, config_script("set system time-zone 'Asia/Tokyo'", "save", "exit discard")
    )
    assert result.status == 0
    assert "Warning: you have uncommitted changes that will not be saved." in result.stdout
    assert "Asia/Tokyo" not in core.read_file("/config/config.boot")


def test_merge_and_load_files(core: RouterCore, manual: ManualClock) -> None:
    manual.advance(2)
    assert core.tunnel_up("203.0.113.10")
    missing = run_script(core, config_script("merge /home/vyos/nope.conf"))
    assert missing.status == 1
    assert "Cannot open configuration file /home/vyos/nope.conf" in missing.stdout
    core.write_file("/home/vyos/bad.conf", "system {\n    host-name rtr\n")
    broken = run_script(core, config_script("merge bad.conf"))
    assert broken.status == 1 and "Failed to parse specified config file" in broken.stdout
    core.write_file("/home/vyos/partial.conf", "system {\n    host-name rtr\n    warp 9\n}\n")
    partial = run_script(core, config_script("merge partial.conf", "commit"))
    assert partial.status == 1 and "Merge failed" in partial.stdout
    assert "set system host-name 'rtr'" in core.running.commands()  # the valid part merged
    core.write_file("/home/vyos/small.conf", "system {\n    host-name tiny\n}\n")
    loaded = run_script(core, config_script("load small.conf", "commit"))
    assert loaded.status == 0, loaded.stdout
    assert core.running.commands() == ["set system host-name 'tiny'"]
    assert not core.tunnel_up("203.0.113.10")


def test_paths_cannot_leave_the_router_filesystem(core: RouterCore, tmp_path: Path) -> None:
    assert core.local_path("../../../etc/passwd") == tmp_path / "etc" / "passwd"
    assert core.local_path("backup.conf") == tmp_path / "home" / "vyos" / "backup.conf"
