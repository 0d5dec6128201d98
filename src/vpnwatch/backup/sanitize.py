"""Pure checks and transformations of a pulled configuration (no I/O, no clock).

A pull becomes a backup only if it parses, round-trips (config.boot ⇄ canonical `set`
commands), looks like a whole router configuration, still has something after the
instance-specific sections are removed, and did not lose more than half of the previous
version. Reasons name sections and counts, never values: configs hold pre-shared keys.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from vpnwatch.errors import ParseError, VpnwatchError
from vpnwatch.parsers import parse_config, render_config_boot, strip_sections
from vpnwatch.parsers.vyos_config import parse_set_command

DEFAULT_STRIP_SECTIONS = ("interfaces ethernet eth0", "service", "system")
# Every VyOS configuration has these (login user, host name; at least one interface).
REQUIRED_SECTIONS = ("interfaces", "system")
_TOP_WORD = re.compile(r"^[a-z][a-z0-9-]*$")


class BackupRejected(VpnwatchError):
    """A pulled configuration that must not become a backup (the reason says why)."""


@dataclass(frozen=True)
class PreparedBackup:
    """A pull turned into what is stored: sanitized canonical commands and their config.boot."""

    source_format: str  # "boot" | "commands": what the router printed
    commands: tuple[str, ...]  # sanitized, canonical
    text: str  # render_config_boot(commands)
    sections_removed: tuple[str, ...]


def _path(command: str) -> tuple[str, ...]:
    return parse_set_command(command)[0]


def top_sections(commands: Sequence[str]) -> frozenset[str]:
    """Top-level node names (`interfaces`, `protocols`, `vpn`, ...)."""
    return frozenset(_path(c)[0] for c in commands)


def section_of(command: str) -> str:
    """A command's section for change summaries: its first two path words (keywords at
    that depth in VyOS, never values), e.g. `protocols bgp`, `vpn ipsec`."""
    return " ".join(_path(command)[:2])


def changed_sections(old: Sequence[str], new: Sequence[str]) -> tuple[str, ...]:
    """Sections with an added, removed or changed command, sorted."""
    return tuple(sorted({section_of(c) for c in set(old) ^ set(new)}))


def round_trips(commands: Sequence[str]) -> bool:
    """config.boot rendered from `commands` parses back to exactly `commands`."""
    try:
        return parse_config(render_config_boot(commands)).commands == tuple(commands)
    except ParseError:
        return False


def _check_whole_config(commands: Sequence[str]) -> None:
    for command in commands:
        path, value = parse_set_command(command)
        if not _TOP_WORD.match(path[0]):
            raise BackupRejected("a top-level node name is not a VyOS keyword: not a config")
        if len(path) == 1 and value is not None:
            raise BackupRejected("a top-level node carries a value: not a VyOS configuration")
    missing = [s for s in REQUIRED_SECTIONS if s not in top_sections(commands)]
    if missing:
        raise BackupRejected(
            f"no {' or '.join(missing)} section: not a whole router configuration (truncated?)"
        )


def prepare_backup(text: str, strip: Sequence[str] = DEFAULT_STRIP_SECTIONS) -> PreparedBackup:
    """`show configuration` output → the sanitized backup; BackupRejected when it is unfit."""
    try:
        parsed = parse_config(text)
    except ParseError as exc:
        raise BackupRejected(f"the configuration does not parse: {exc}") from None
    if parsed.format != "boot" and parsed.format != "commands":
        raise BackupRejected(f"unknown configuration format {parsed.format!r}")
    _check_whole_config(parsed.commands)
    kept, removed = strip_sections(parsed.commands, strip)
    if not any(parse_set_command(c)[1] is not None for c in kept):  # only empty nodes left
        raise BackupRejected(
            "nothing is left after removing the instance-specific sections "
            f"({', '.join(strip)}): a blank router has nothing worth restoring"
        )
    if not round_trips(kept):
        raise BackupRejected("the sanitized configuration does not round-trip through config.boot")
    return PreparedBackup(parsed.format, kept, render_config_boot(kept), removed)


def check_not_shrunk(new: Sequence[str], previous: Sequence[str] | None) -> None:
    """Refuse a config that lost more than half of the previous version's top-level
    sections or commands: a router answering with half a config must not become the
    newest backup (a heal would restore it)."""
    if not previous:
        return
    old_sections, new_sections = top_sections(previous), top_sections(new)
    lost = old_sections - new_sections
    if 2 * len(lost) > len(old_sections):
        raise BackupRejected(
            f"lost {len(lost)} of the previous backup's {len(old_sections)} top-level sections "
            f"({', '.join(sorted(lost))}): truncated output? keeping the previous backup"
        )
    if 2 * len(new) < len(previous):
        raise BackupRejected(
            f"only {len(new)} commands against {len(previous)} in the previous backup "
            "(lost more than half): truncated output? keeping the previous backup"
        )
