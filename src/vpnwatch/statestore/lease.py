"""The leader lease of one host: an exclusive flock on `<state_dir>/leader.lock`.

The process holding the flock leads; the kernel drops it when the process dies (SIGKILL
included), so the next process can take over at once. Every takeover bumps the fencing
token kept in `leader.json` (written atomically, under the store's writer lock), which is
what fenced writes compare against. `lock.backend: none` means this lease: two daemons on
one state directory make one leader and one standby, and a CLI acts by itself only when no
daemon holds it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from vpnwatch.atomicfile import private_dir, write_atomic
from vpnwatch.statestore.api import Fence, LeaseStatus

LOCK_FILE = "leader.lock"
TOKEN_FILE = "leader.json"  # noqa: S105 - a fencing token, not a secret
WRITER_LOCK = "store.lock"


@contextlib.contextmanager
def writer_lock(state_dir: Path) -> Iterator[None]:
    """Serialise the writers of one state directory (a daemon and a CLI, say)."""
    private_dir(state_dir)
    fd = os.open(state_dir / WRITER_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing drops the lock


def _read_token(state_dir: Path) -> tuple[int, str | None]:
    try:
        data = json.loads((state_dir / TOKEN_FILE).read_bytes())
        return int(data["token"]), str(data["holder"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0, None  # never held (or unreadable: the next takeover rewrites it)


class FileLease:
    def __init__(self, state_dir: Path, holder: str | None = None) -> None:
        self._dir = state_dir
        self._holder = holder or f"{socket.gethostname()} pid {os.getpid()}"
        self._fd: int | None = None
        self._fence: Fence | None = None
        self._previous: str | None = None
        self._transitions = 0

    def acquire(self) -> Fence | None:
        if self._fence is not None:
            return self._fence
        private_dir(self._dir)
        fd = os.open(self._dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        with writer_lock(self._dir):
            token, self._previous = _read_token(self._dir)
            fence = Fence(self._holder, token + 1)
            body = {"holder": fence.holder, "token": fence.token}
            write_atomic(self._dir / TOKEN_FILE, json.dumps(body).encode())
        self._fd, self._fence = fd, fence
        self._transitions += 1
        return fence

    def current(self) -> Fence | None:
        return self._fence

    def holder(self) -> str | None:
        if self._fence is not None:
            return self._fence.holder
        token, holder = _read_token(self._dir)
        return f"{holder}, fence {token}" if holder else None

    def still_valid(self, fence: Fence) -> bool:
        """Under the writer lock: is `fence` the newest one, and held by this process?"""
        token, holder = _read_token(self._dir)
        return self._fence == fence and token == fence.token and holder == fence.holder

    def previous(self) -> str | None:
        return self._previous

    def status(self) -> LeaseStatus:
        fence = self._fence.token if self._fence else _read_token(self._dir)[0]
        return LeaseStatus(self._fence is not None, fence, 0, self._transitions)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._transitions += 1
        self._fd, self._fence = None, None
