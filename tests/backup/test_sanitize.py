"""The pure part: parse, round-trip, sanitize, refuse bad pulls, summarise changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from vpnwatch.backup.sanitize import (
    DEFAULT_STRIP_SECTIONS,
    BackupRejected,
    changed_sections,
    check_not_shrunk,
    prepare_backup,
    round_trips,
    top_sections,
)
from vpnwatch.lab.vyos_sim import (
    VERSIONS,
    Role,
    TunnelSpec,
    article_config_commands,
    base_config_commands,
)
from vpnwatch.lab.vyos_sim.formats import check_version
from vpnwatch.lab.vyos_sim.tree import tree_from_commands
from vpnwatch.parsers import parse_config, render_config_boot

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "router-outputs"
CONFIG_FIXTURES = sorted((FIXTURES / "config-commands").glob("*.txt"))
PSKS = ("Hx81-psk-one", "Qz27-psk-two")
CLIENT_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBackupTestKeyNotRealxxxxxxxxxxxxxxxxxxxxxx lab"


def show_configuration(version: str, *, role: Role = "spoke") -> str:
    """What `show configuration` prints on a router set up as in the article (lab tree)."""
    checked = check_version(version)
    tunnels = [
        TunnelSpec.from_cidr(f"52.1.1.{i + 1}", f"169.254.{20 + i}.0/30", psk)
        for i, psk in enumerate(PSKS)
    ]
    commands = [
        *base_config_commands(checked, mac="0a:00:00:00:00:01", client_key=CLIENT_KEY),
        *article_config_commands(
            "spoke1-r1", 65000, tunnels, role=role, vpc_cidr="10.1.0.0/16", version=checked
        ),
    ]
    return tree_from_commands(checked, commands).boot_text(margin=" ")


def words_start_with(command: str, section: str) -> bool:
    path = command.split()[1:]
    wanted = section.split()
    return path[: len(wanted)] == wanted


# ---------------------------------------------------------------- round trip


@pytest.mark.parametrize("path", CONFIG_FIXTURES, ids=lambda p: p.name)
def test_real_config_fixtures_round_trip(path: Path) -> None:
    commands = parse_config(path.read_text()).commands
    assert commands
    rendered = render_config_boot(commands)
    again = parse_config(rendered)
    assert again.format == "boot"
    assert again.commands == commands
    assert round_trips(commands)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("role", ["hub", "spoke"])
def test_article_configs_round_trip_and_sanitize(version: str, role: Role) -> None:
    text = show_configuration(version, role=role)
    pulled = parse_config(text)
    assert pulled.format == "boot"
    assert parse_config(render_config_boot(pulled.commands)).commands == pulled.commands

    backup = prepare_backup(text)
    removed = [
        c for c in pulled.commands if any(words_start_with(c, s) for s in DEFAULT_STRIP_SECTIONS)
    ]
    assert removed, "the article's config has instance-specific sections"
    assert backup.commands == tuple(c for c in pulled.commands if c not in removed)
    assert backup.sections_removed == DEFAULT_STRIP_SECTIONS
    assert parse_config(backup.text).commands == backup.commands
    assert top_sections(backup.commands) == {"interfaces", "policy", "protocols", "vpn"}
    # what a heal needs survives: the VTIs, the tunnels with their keys, BGP
    assert any(c.startswith("set interfaces vti vti0 address") for c in backup.commands)
    assert all(psk in backup.text for psk in PSKS)
    assert any(c.startswith("set protocols bgp") for c in backup.commands)


def test_sanitize_removes_exactly_the_configured_sections() -> None:
    text = show_configuration("1.3")
    pulled = parse_config(text).commands
    sections = ("protocols static", "interfaces ethernet eth0", "firewall")  # firewall: absent
    backup = prepare_backup(text, sections)
    assert backup.sections_removed == ("protocols static", "interfaces ethernet eth0")
    assert backup.commands == tuple(
        c for c in pulled if not any(words_start_with(c, s) for s in sections)
    )
    assert any(c.startswith("set system host-name") for c in backup.commands)  # kept
    assert any(c.startswith("set protocols bgp") for c in backup.commands)  # a sibling: kept


def test_section_prefix_is_by_whole_words() -> None:
    text = show_configuration("1.3").replace("ethernet eth0 {", "ethernet eth01 {")
    backup = prepare_backup(text, ("interfaces ethernet eth0",))
    assert backup.sections_removed == ()
    assert any(c.startswith("set interfaces ethernet eth01 ") for c in backup.commands)


# ---------------------------------------------------------------- refusing bad pulls


def rejection(text: str, previous: tuple[str, ...] | None = None) -> str:
    with pytest.raises(BackupRejected) as caught:
        backup = prepare_backup(text)
        check_not_shrunk(backup.commands, previous)
    message = str(caught.value)
    assert "\n" not in message
    assert not any(psk in message for psk in PSKS)
    return message


@pytest.mark.parametrize("version", VERSIONS)
def test_truncated_inside_a_section_is_rejected(version: str) -> None:
    lines = show_configuration(version).splitlines(keepends=True)
    depth, inside = 0, 0
    for cut, line in enumerate(lines[:-1], start=1):
        depth += line.count("{") - line.count("}")
        if depth > 0:  # the answer stops inside a node: every such cut
            inside += 1
            assert "does not parse" in rejection("".join(lines[:cut]))
    assert inside > len(lines) // 2


def test_truncated_at_a_top_level_boundary_is_rejected() -> None:
    text = show_configuration("1.3")
    end_of_interfaces = text.index("\n }\n") + len("\n }\n")
    assert parse_config(text[:end_of_interfaces]).commands  # it parses on its own...
    assert "no system section" in rejection(text[:end_of_interfaces])  # ...but is not whole


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "   \n\n",
        "lorem ipsum 0xdeadbeef\n",
        "kernel: ???\n%% segfault\n",
        "}{\n",
        "Invalid command: show [configuration]\n",
        "system {\n host-name 'x'\n}\n",  # a whole-looking fragment without interfaces
    ],
)
def test_garbage_is_rejected(garbage: str) -> None:
    rejection(garbage)


def test_blank_router_has_nothing_to_back_up() -> None:
    base = base_config_commands("1.3", mac="0a:00:00:00:00:01", client_key=CLIENT_KEY)
    text = tree_from_commands("1.3", base).boot_text(margin=" ")
    assert "nothing is left" in rejection(text)


def test_losing_more_than_half_of_the_previous_version_is_rejected() -> None:
    previous = prepare_backup(show_configuration("1.3")).commands
    only_interfaces = tuple(c for c in previous if c.startswith("set interfaces "))
    message = rejection_of_shrink(only_interfaces, previous)
    assert "top-level sections" in message
    half = previous[: len(previous) // 2 - 1]
    assert "commands" in rejection_of_shrink(half, previous)
    # losing exactly half, or a section out of four, is a change, not a truncation
    check_not_shrunk(previous[: (len(previous) + 1) // 2], previous)
    check_not_shrunk(tuple(c for c in previous if not c.startswith("set policy ")), previous)
    check_not_shrunk(only_interfaces, None)  # no history: nothing to compare with


def rejection_of_shrink(new: tuple[str, ...], previous: tuple[str, ...]) -> str:
    with pytest.raises(BackupRejected) as caught:
        check_not_shrunk(new, previous)
    return str(caught.value)


# ---------------------------------------------------------------- change summaries


def test_changed_sections_names_sections_never_values() -> None:
    old = prepare_backup(show_configuration("1.3")).commands
    new_psk = "Nw55-rotated-psk"
    route = "set protocols static route 10.9.0.0/16 next-hop 10.1.0.1"
    new = (*(c.replace(PSKS[0], new_psk) for c in old), route)
    sections = changed_sections(old, new)
    assert sections == ("protocols static", "vpn ipsec")
    assert not any(new_psk in s or PSKS[0] in s for s in sections)
    assert changed_sections(old, old) == ()
