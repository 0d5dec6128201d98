"""The one way vpnwatch writes a file it must not lose or half-write.

Temp file in the same directory (mkstemp: 0600) → write → fsync → rename over the target →
fsync the directory. A crash leaves either the old file or the new one, never a mix; the
temp files a crash can leave behind start with `prefix` so their owner can sweep them.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

TEMP_PREFIX = ".tmp-"


def private_dir(path: Path) -> None:
    """Create `path` (and parents) as 0700; tighten it if it exists with a looser mode."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o777 != 0o700:
        path.chmod(0o700)


def write_atomic(path: Path, data: bytes, *, prefix: str = TEMP_PREFIX) -> None:
    """Replace `path` with `data` (mode 0600), all or nothing."""
    fd, tmp = tempfile.mkstemp(prefix=prefix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), 0o600)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def append_line(path: Path, line: str) -> None:
    """Append one line (0600 on creation) and fsync it: for append-only logs (the audit)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
