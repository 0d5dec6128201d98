"""A simulated router's disk and logins before its first boot (what cloud-init leaves).

- `write_files` land in the router's directory (router paths, `/opt/vyatta/etc/config` is
  `/config` as on VyOS) with their permissions;
- sshd's host key is on disk as `/etc/ssh/ssh_host_ed25519_key{,.pub}` (vyos-1x
  `service_ssh.py` makes it only when it is missing, so a key written there is kept);
- `vyos_config_commands` edit the saved config (cc_vyos_userdata: a failing command is
  logged and skipped);
- SSH logins come from the running config's `system login user vyos` public keys.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import asyncssh

from vpnwatch.lab.vyos_sim.boot_scripts import router_path
from vpnwatch.lab.vyos_sim.tree import CfgNode, ConfigPathError, ConfigTree

_LOGIN = ("system", "login", "user", "vyos", "authentication", "public-keys")


def apply_edits(
    tree: ConfigTree, edits: Sequence[tuple[str, Sequence[str], str | None]]
) -> list[str]:
    """Apply cloud-init's set/delete edits; the ones that fail are reported, not applied."""
    problems = []
    for action, path, value in edits:
        words = [*path, value] if value is not None else list(path)
        try:
            if action == "set":
                tree.set(words)
            else:
                tree.delete(words)
        except ConfigPathError:
            problems.append(f"Unable to configure command: {action} {' '.join(path)}")
    return problems


def login_key_data(root: CfgNode) -> set[bytes]:
    """The public key blobs the login user `vyos` may log in with."""
    found = set()
    for name in root.keys(*_LOGIN):
        blob = root.value(*_LOGIN, name, "key")
        if blob is None:
            continue
        try:
            found.add(base64.b64decode(blob, validate=True))
        except (binascii.Error, ValueError):
            continue
    return found


def write_router_files(root: Path, files: Mapping[str, tuple[bytes, int, bool]]) -> None:
    for path, (content, mode, append) in files.items():
        target = router_path(root, path)
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "ab" if append else "wb") as out:
            out.write(content)
        os.chmod(target, mode)


def write_host_key(root: Path, key: asyncssh.SSHKey) -> None:
    """sshd's ed25519 host key pair, as `ssh-keygen -t ed25519` leaves it."""
    private = router_path(root, "/etc/ssh/ssh_host_ed25519_key")
    private.parent.mkdir(parents=True, exist_ok=True)
    if not private.exists():  # kept if write_files put one there
        private.write_bytes(key.export_private_key("openssh"))
        os.chmod(private, 0o600)
        public = key.export_public_key("openssh").decode().split()[:2]
        (private.parent / "ssh_host_ed25519_key.pub").write_text(" ".join(public) + " root@vyos\n")


def disk_host_key(root: Path) -> asyncssh.SSHKey | None:
    """The host key written on disk before boot (by write_files), if one is there."""
    private = router_path(root, "/etc/ssh/ssh_host_ed25519_key")
    try:
        return asyncssh.import_private_key(private.read_bytes())
    except (OSError, asyncssh.KeyImportError):
        return None
