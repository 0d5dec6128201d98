"""Typed errors of the VyOS SSH adapter (no asyncssh import: callers may catch these freely).

Every error names the router. Messages never carry command text of config scripts, file
contents or key material: only counts, paths, exit statuses and key fingerprints.
"""

from __future__ import annotations

from typing import ClassVar

from vpnwatch.errors import PermanentError, TemporaryError, VpnwatchError
from vpnwatch.vocabulary import SshErrorKind


class SshError(VpnwatchError):
    """Base of the adapter's errors. `kind`/`reachable` say how `observe` reports it."""

    kind: ClassVar[SshErrorKind] = SshErrorKind.COMMAND
    reachable: ClassVar[bool] = True

    def __init__(self, router: str, detail: str) -> None:
        self.router = router
        self.detail = detail
        super().__init__(f"{router}: {detail}")


class SshUnreachable(SshError, TemporaryError):
    """No SSH session: refused, no route, connect timeout, connection lost, or in backoff."""

    kind = SshErrorKind.UNREACHABLE
    reachable = False


class SshTimeout(SshError, TemporaryError):
    """Connected, but a command (or SFTP transfer) did not finish within its timeout."""

    kind = SshErrorKind.TIMEOUT
    reachable = False


class HostKeyMismatch(SshError, PermanentError):
    """The router's host key is not the trusted one (or no key is trusted for it)."""

    kind = SshErrorKind.HOST_KEY
    reachable = False

    def __init__(
        self,
        router: str,
        detail: str,
        *,
        presented: str | None = None,
        expected: tuple[str, ...] = (),
    ) -> None:
        super().__init__(router, detail)
        self.presented = presented  # "ssh-ed25519 SHA256:..." or None when unknown
        self.expected = expected  # fingerprints of the trusted keys


class SshAuthFailed(SshError, PermanentError):
    """The router refused our key (or our key file cannot be loaded)."""

    kind = SshErrorKind.AUTH
    reachable = False


class CommandFailed(SshError, PermanentError):
    """The router ran the command and said it failed (exit status or error text)."""

    kind = SshErrorKind.COMMAND

    def __init__(self, router: str, detail: str, *, exit_status: int | None = None) -> None:
        super().__init__(router, detail)
        self.exit_status = exit_status


class CommitError(CommandFailed):
    """A configuration script failed: set/delete/commit/save/merge rejected by the router."""


class OutputTooLarge(SshError, PermanentError):
    """A command printed more than `max_output_bytes`; the channel was aborted."""

    kind = SshErrorKind.PARSE


class UnsafeCommand(PermanentError, ValueError):
    """A command we were asked to send is malformed (control characters, shell syntax...).

    Raised before anything is sent. The message says which command (by position) and why,
    never the command text (it may hold a pre-shared key).
    """
