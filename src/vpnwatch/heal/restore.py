"""Restoring a backup onto a relaunched router, and saving it only if it took (DESIGN §5).

The backup (sanitized config.boot with the router's config-version footer, so VyOS's
`merge` migrates it from the version it was taken on) is uploaded, merged and committed —
but not saved. VyOS's merge applies each node and prints failures without stopping
(vyos-1x `vyos-merge-config.py`), so the running config is then compared with the backup:
every backup node must be there, and nothing else may be in the sections the backup covers,
except what is instance-specific (interface hw-ids, the fresh instance's own login keys).
Only a match is saved; anything else is an alert with the router left unsaved (a reboot
returns it to the fresh AMI's config). The uploaded file (it holds the PSKs) is deleted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from vpnwatch.errors import ParseError
from vpnwatch.parsers import parse_config
from vpnwatch.parsers.vyos_config import parse_set_command

BACKUP_PATH = "/home/vyos/vpnwatch-restore.boot"
# The runbook's `delete system ntp`: the fresh image's NTP servers go so the merge brings the
# saved ones (VyOS ≥ 1.4 keeps NTP under `service ntp`). Only when the backup has them.
NTP_PATHS = ("system ntp", "service ntp")
_LOGIN_KEYS = ("system", "login", "user")
_SHOWN = re.compile(r"(?m)^// vpnwatch-show-version:\s*([0-9][\w.+-]*)")
_RELEASE = re.compile(r"(?im)^\s*(?://|/\*)?\s*Release version:\s*([0-9][\w.+-]*)")
_SHOW_VERSION = re.compile(r"(?im)^\s*Version:\s*VyOS\s+([0-9][\w.+-]*)")


class RestoreAccess(Protocol):
    """What a restore needs of the relaunched router (SSH, host key already verified)."""

    async def run_op(self, command: str) -> str: ...

    async def run_config(self, commands: Sequence[str], *, save: bool) -> None: ...

    async def upload(self, path: str, data: bytes) -> None: ...

    async def remove(self, path: str) -> None: ...


class RestoreMismatch(Exception):
    """The merged config is not the backup (the reason names sections, never values)."""


@dataclass(frozen=True)
class Difference:
    missing: tuple[str, ...]  # backup commands not in the router's config
    unexpected: tuple[str, ...]  # router commands the backup does not have

    def __bool__(self) -> bool:
        return bool(self.missing or self.unexpected)

    def summary(self) -> str:
        def sections(commands: Sequence[str]) -> str:
            found = sorted({" ".join(parse_set_command(c)[0][:2]) for c in commands})
            return ", ".join(found[:6]) + (" ..." if len(found) > 6 else "")

        parts = []
        if self.missing:
            parts.append(f"{len(self.missing)} backup node(s) missing ({sections(self.missing)})")
        if self.unexpected:
            parts.append(
                f"{len(self.unexpected)} node(s) the backup does not have "
                f"({sections(self.unexpected)})"
            )
        return "; ".join(parts)


def release_of_backup(text: str) -> str | None:
    """The VyOS release a backup was taken on (`show version`, else its config-version
    footer), if recorded."""
    match = _SHOWN.search(text) or _RELEASE.search(text)
    return match.group(1).rstrip("*/ ") if match else None


def release_of_show_version(text: str) -> str | None:
    match = _SHOW_VERSION.search(text)
    return match.group(1) if match else None


def version_key(release: str) -> tuple[int, ...]:
    """ "1.4.3" → (1, 4, 3); "1.5-rolling-202401" → (1, 5)."""
    numbers = re.match(r"(\d+)(?:\.(\d+))?(?:\.(\d+))?", release)
    if numbers is None:
        raise ValueError(f"not a VyOS release: {release!r}")
    return tuple(int(n) for n in numbers.groups() if n is not None)


def _instance_specific(path: tuple[str, ...]) -> bool:
    return "hw-id" in path and path[:2] == ("interfaces", "ethernet")


def _covered(path: tuple[str, ...], strip_sections: Sequence[str]) -> bool:
    return not any(path[: len(s.split())] == tuple(s.split()) for s in strip_sections)


def compare(
    backup: Sequence[str], running: Sequence[str], strip_sections: Sequence[str]
) -> Difference:
    """How the router's config (`set` commands) differs from the backup it was merged with."""
    backup_set, running_set = set(backup), set(running)
    backup_keys = {
        parse_set_command(c)[0][:7] for c in backup if parse_set_command(c)[0][:3] == _LOGIN_KEYS
    }
    missing = [c for c in backup if c not in running_set and not _instance_specific(_path(c))]
    unexpected = []
    for command in running:
        path = _path(command)
        if command in backup_set or _instance_specific(path):
            continue
        if not _covered(path, strip_sections):
            continue  # a section the backup leaves to the instance
        if path[:3] == _LOGIN_KEYS and "public-keys" in path and path[:7] not in backup_keys:
            continue  # the fresh instance's own login (its key pair, vpnwatch's key)
        unexpected.append(command)
    return Difference(tuple(missing), tuple(unexpected))


def _path(command: str) -> tuple[str, ...]:
    return parse_set_command(command)[0]


def restore_script(running: Sequence[str], backup: Sequence[str]) -> tuple[str, ...]:
    """NTP deletes (only what the backup brings back), then the merge."""
    deletes = [
        f"delete {path}"
        for path in NTP_PATHS
        if any(c.startswith(f"set {path} ") for c in running)
        and any(c.startswith(f"set {path} ") for c in backup)
    ]
    return (*deletes, *(("commit",) if deletes else ()), f"merge {BACKUP_PATH}")


def _commands(text: str) -> tuple[str, ...]:
    try:
        return parse_config(text).commands
    except ParseError as exc:
        raise RestoreMismatch(f"the router's configuration does not parse: {exc}") from None


async def restore(access: RestoreAccess, backup_text: str, strip_sections: Sequence[str]) -> str:
    """Merge, commit, compare, save. Returns the router's release; RestoreMismatch (nothing
    saved) when the result is not the backup. `access.remove` must not raise."""
    backup = _commands(backup_text)
    release = release_of_show_version(await access.run_op("show version"))
    running = _commands(await access.run_op("show configuration commands"))
    await access.upload(BACKUP_PATH, backup_text.encode())
    try:
        await access.run_config(restore_script(running, backup), save=False)
        taken_on = release_of_backup(backup_text)
        if taken_on is not None and release is not None and taken_on != release:
            raise RestoreMismatch(  # migrated on merge: it cannot be compared node by node
                f"restored a VyOS {taken_on} backup onto VyOS {release}: merged and committed "
                "but not saved, review it and save by hand"
            )
        merged = _commands(await access.run_op("show configuration commands"))
        difference = compare(backup, merged, strip_sections)
        if difference:
            raise RestoreMismatch(f"the merged config is not the backup: {difference.summary()}")
        await access.run_config((), save=True)
    finally:
        await access.remove(BACKUP_PATH)
    return release or "unknown"
