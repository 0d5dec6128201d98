"""The daemon's SSH files in a lab world: its client key pair (owner-only) and a known_hosts
file with every simulated router's `[127.0.0.1]:PORT` host key."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import asyncssh

KEY_NAME = "id_ed25519"
KNOWN_HOSTS = "known_hosts"


@dataclass(frozen=True)
class ClientKey:
    private_file: Path
    public_line: str  # OpenSSH: "ssh-ed25519 AAAA... comment"


def _write_private(path: Path, data: bytes) -> None:
    """Create the file 0600 before a byte of the key is written (never world-readable)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.chmod(tmp, 0o600)  # an old file of that name may have had another mode
    tmp.replace(path)


def new_client_key(directory: Path, comment: str = "vpnwatch-lab") -> ClientKey:
    """A fresh ed25519 key pair for the daemon: `id_ed25519` (0600) and `id_ed25519.pub`."""
    key = asyncssh.generate_private_key("ssh-ed25519", comment=comment)
    private = directory / KEY_NAME
    _write_private(private, key.export_private_key("openssh"))
    public = key.export_public_key("openssh").decode().strip()
    (directory / f"{KEY_NAME}.pub").write_text(public + "\n", encoding="utf-8")
    return ClientKey(private, public)


def known_hosts_line(host: str, port: int, host_key: str) -> str:
    """One known_hosts entry; `host_key` is "alg base64"."""
    name = host if port == 22 else f"[{host}]:{port}"
    return f"{name} {host_key}"


def write_known_hosts(path: Path, entries: Iterable[tuple[str, int, str]]) -> Path:
    """Write (host, port, host key) entries atomically."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    text = "".join(known_hosts_line(h, p, k) + "\n" for h, p, k in entries)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path
