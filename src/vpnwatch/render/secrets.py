"""Pre-shared keys in rendered and running configurations: where they are, and masking them.

`vpnwatch render` prints a key only on stdout and only with `--show-secrets`; everything
else (logs, errors, drift reasons, `--diff` without the flag) sees the marker.
"""

from __future__ import annotations

from collections.abc import Iterable

from vpnwatch.parsers.vyos_config import parse_set_command

MARKER = "<hidden: add --show-secrets>"
_PSK = ("vpn", "ipsec", "authentication", "psk")


def is_secret_path(path: tuple[str, ...]) -> bool:
    """A key's node: `... peer X authentication pre-shared-secret` (1.3) or
    `vpn ipsec authentication psk X secret` (1.4+)."""
    if path[-2:] == ("authentication", "pre-shared-secret"):
        return True
    return path[:4] == _PSK and len(path) == 6 and path[5] == "secret"


def mask_line(line: str) -> str:
    """One `set`/`delete` line with its key (if any) replaced by the marker."""
    verb, _, rest = line.partition(" ")
    path, value = parse_set_command(f"set {rest}")
    if value is None or not is_secret_path(path):
        return line
    return f"{verb} {' '.join(path)} '{MARKER}'"


def mask(lines: Iterable[str]) -> tuple[str, ...]:
    return tuple(mask_line(line) for line in lines)
