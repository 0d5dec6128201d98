"""What `run` needs from the machine, checked before it starts (and by `validate-config`).

A config can be valid and still unusable here: a state directory that is a file, a listen
address that does not resolve or is taken, a private key anyone may read. Each problem is
named with its config path, so `validate-config` says everything `run` would stop on.
"""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

from vpnwatch.config import Config


def _state_dir(path: Path) -> str | None:
    if path.exists():
        if not path.is_dir():
            return f"state_dir: {path} exists and is not a directory"
        if not os.access(path, os.R_OK | os.W_OK | os.X_OK):
            return f"state_dir: {path} is not writable by this user"
        return None
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        return f"state_dir: {path} does not exist and cannot be created under {parent}"
    return None


def _listen(config: Config) -> str | None:
    host, port = config.metrics.host, config.metrics.port
    where = f"metrics.listen: {config.metrics.listen}"
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return f"{where}: cannot resolve {host!r} ({exc.strerror})"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does
        try:
            sock.bind(address)
        except OSError as exc:
            return f"{where}: cannot listen there ({exc.strerror})"
    return None


def _private_key(path: Path) -> str | None:
    """OpenSSH's rule: a key the running user owns must not be open to group or others (a
    key owned by root and shared with our group, as the deploy files set up, is fine); a
    key anyone may read is refused whoever owns it."""
    try:
        info = path.stat()
        with path.open("rb"):
            pass
    except OSError as exc:
        return f"ssh.key_file: cannot read {path} ({exc.strerror})"
    mode = stat.S_IMODE(info.st_mode)
    mine = info.st_uid == os.geteuid()
    if mode & 0o007 or (mine and mode & 0o077):
        return (
            f"ssh.key_file: {path} has mode {mode:04o}: a private key must not be readable "
            "by others (chmod 600, or 640 owned by root with our group)"
        )
    return None


def _readable(path: Path, key: str) -> str | None:
    try:
        with path.open("rb"):
            return None
    except OSError as exc:
        return f"{key}: cannot read {path} ({exc.strerror})"


def machine_problems(config: Config, *, listen: bool = True) -> list[str]:
    """Every reason `run` could not start on this machine with `config` (empty: none).
    `listen=False` skips the listen check (a reload keeps the socket it has)."""
    found = [_state_dir(config.state_dir)]
    if listen:
        found.append(_listen(config))
    if config.ssh.enabled:
        assert config.ssh.key_file is not None and config.ssh.known_hosts is not None
        found.append(_private_key(config.ssh.key_file))
        found.append(_readable(config.ssh.known_hosts, "ssh.known_hosts"))
    return [p for p in found if p is not None]
