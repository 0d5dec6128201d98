"""The only module that talks SSH (asyncssh) to the VyOS routers.

One persistent connection per router, reused across cycles; reconnects with capped
exponential backoff (time from the injected clock); strict host-key checking (the known_hosts
file, or the endpoint's own trusted keys after a relaunch), never auto-accept; one semaphore
bounds the whole fleet; every command has a timeout and an output cap; output is parsed off
the event loop (`vpnwatch.offloop`) with a deadline. Config scripts are never logged (they
may hold pre-shared keys): only counts and paths are.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import asyncssh
import structlog

from vpnwatch.adapters import vyos_script as script
from vpnwatch.adapters.vyos_errors import (
    CommandFailed,
    CommitError,
    HostKeyMismatch,
    OutputTooLarge,
    SshAuthFailed,
    SshError,
    SshTimeout,
    SshUnreachable,
    UnsafeCommand,
)
from vpnwatch.adapters.vyos_script import ExecResult, describe
from vpnwatch.adapters.vyos_ssh import (
    CappedSession,
    Conn,
    ConnectionWatcher,
    HostKeyTrust,
    RouterEndpoint,
    sftp_read,
    sftp_remove,
    sftp_write,
)
from vpnwatch.config import SshConfig
from vpnwatch.errors import ParseError
from vpnwatch.model import BgpSummary, RouterSshView
from vpnwatch.offloop import OP_PARSE_DEADLINE, parse_off_loop
from vpnwatch.parsers import UnsupportedCommand, parse_bgp_summary
from vpnwatch.redaction import (
    private_key_lines,
    redact,
    remember_secrets,
    secrets_in_commands,
)

__all__ = [
    "CommandFailed",
    "CommitError",
    "HostKeyMismatch",
    "OutputTooLarge",
    "RouterEndpoint",
    "SshAuthFailed",
    "SshError",
    "SshTimeout",
    "SshUnreachable",
    "UnsafeCommand",
    "VyosClient",
]

log = structlog.get_logger("vpnwatch.adapters.vyos")
T = TypeVar("T")
# AES-GCM runs in OpenSSL; asyncssh's default first choice (chacha20) was ~45 % of a cycle's
# CPU at 1,000 routers. CTR modes last, for VyOS 1.1's OpenSSH 5.5.
_CIPHERS = (
    "aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com",
    "aes128-ctr", "aes192-ctr", "aes256-ctr",
)  # fmt: skip


@dataclass
class _RouterState:
    endpoint: RouterEndpoint
    lock: asyncio.Lock
    conn: Conn | None = None
    failures: int = 0  # consecutive failed connects
    retry_at: float = 0.0  # clock() before which no connect is attempted
    last_error: SshError | None = None
    bgp_json_unsupported: bool = False


class VyosClient:
    """SSH access to a fleet of VyOS routers. Create once, `await close()` at the end."""

    def __init__(self, settings: SshConfig, *, clock: Callable[[], float] = time.monotonic) -> None:
        if settings.key_file is None or settings.known_hosts is None:
            raise ValueError("ssh.key_file and ssh.known_hosts are required")
        self._settings = settings
        self._key_file = settings.key_file
        self._clock = clock
        self._sem = asyncio.Semaphore(settings.max_concurrency)
        self._keys = HostKeyTrust(settings.known_hosts, self._sem, settings.connect_timeout)
        self._states: dict[str, _RouterState] = {}
        self._retired: list[Conn] = []
        self._client_key: asyncssh.SSHKey | None = None
        self._closed = False

    # ---------------------------------------------------------------- public API

    async def observe(self, router: RouterEndpoint) -> RouterSshView:
        """BGP summary, IKE SAs and IPsec SAs of one router. Never raises."""
        try:
            state, conn = await self._connection(router)
            bgp, ike, ipsec = await asyncio.gather(
                self._bgp_summary(state, conn),
                self._parsed_op(state, conn, script.IKE_SA, script.parse_ike_or_none),
                self._parsed_op(state, conn, script.IPSEC_SA, script.parse_ipsec_or_none),
                return_exceptions=True,
            )
        except Exception as exc:
            if not isinstance(exc, SshError):
                log.exception("vyos.observe_internal_error", router=router.name)
            return script.error_view(router.name, exc)
        return script.observation_view(router.name, bgp, ike, ipsec)

    async def run_op(self, router: RouterEndpoint, command: str) -> str:
        """Run an op-mode command (e.g. "show ip bgp summary"); its stdout."""
        line = script.op_command_line(command)
        state, conn = await self._connection(router)
        return await self._checked_op(state, conn, command, line)

    async def run_config(
        self, router: RouterEndpoint, commands: Sequence[str], *, save: bool = True
    ) -> str:
        """Apply config-mode commands with one commit (and save); the router's cleaned output."""
        text = script.build_config_script(commands, save=save)
        state, conn = await self._connection(router)
        log.info("vyos.config_start", router=router.name, commands=len(commands), save=save)
        result = await self._exec(
            state, conn, script.CONFIG_SHELL, self._settings.config_timeout, text.encode()
        )
        failure = script.config_failure(f"{result.stdout}\n{result.stderr}", result.exit_status)
        if failure is not None:
            log.warning("vyos.config_failed", router=router.name, exit_status=result.exit_status)
            detail = redact(failure, secrets_in_commands(commands))
            raise CommitError(router.name, detail, exit_status=result.exit_status)
        log.info("vyos.config_committed", router=router.name, commands=len(commands), save=save)
        return script.clean_config_output(result.stdout)

    async def upload(
        self, router: RouterEndpoint, remote_path: str, data: bytes, *, mode: int = 0o600
    ) -> None:
        """Write `data` to `remote_path` over SFTP; the mode is set before any byte is written."""
        write = sftp_write(remote_path, data, mode)
        await self._sftp(router, "upload", f"upload to {remote_path}", write)
        log.info("vyos.uploaded", router=router.name, path=remote_path, size=len(data))

    async def download(self, router: RouterEndpoint, remote_path: str, max_bytes: int) -> bytes:
        """Read a file over SFTP (at most `max_bytes`); CommandFailed when it cannot."""
        read = sftp_read(remote_path, max_bytes + 1)
        data = await self._sftp(router, "download", f"download of {remote_path}", read)
        if len(data) > max_bytes:
            raise OutputTooLarge(router.name, f"{remote_path} is larger than {max_bytes} bytes")
        return data

    async def remove(self, router: RouterEndpoint, remote_path: str) -> None:
        """Delete a file over SFTP (a file that is already gone is fine)."""
        await self._sftp(router, "remove", f"removing {remote_path}", sftp_remove(remote_path))
        log.info("vyos.removed", router=router.name, path=remote_path)

    def public_key_line(self) -> str:
        """The daemon's own public key ("ssh-ed25519 AAAA... vpnwatch"), for user data."""
        key = self._load_client_key(RouterEndpoint("-", "-"))
        parts = key.export_public_key("openssh").decode().split()[:2]
        return " ".join([*parts, "vpnwatch"])

    async def fetch_host_key(self, router: RouterEndpoint) -> str:
        """The host key the router presents now ("alg base64"), without trusting it.

        Key exchange only: the connection is aborted right after it, no auth, no command.
        With `trusted_host_keys` set, the server is asked for a key of those algorithms.
        """
        return await self._keys.fetch(router, self._keys.endpoint_keys(router))

    def reset_backoff(self, router: RouterEndpoint) -> None:
        """Allow an immediate reconnect (e.g. a heal has just relaunched the router)."""
        state = self._states.get(router.name)
        if state is not None:
            state.failures, state.retry_at, state.last_error = 0, 0.0, None

    async def close(self) -> None:
        self._closed = True
        conns = [s.conn for s in self._states.values() if s.conn is not None] + self._retired
        self._states.clear()
        self._retired = []
        for conn in conns:
            conn.close()
        await asyncio.gather(*(c.wait_closed() for c in conns), return_exceptions=True)

    # ---------------------------------------------------------------- commands

    async def _bgp_summary(self, state: _RouterState, conn: Conn) -> BgpSummary:
        if not state.bgp_json_unsupported:
            line = script.BGP_SUMMARY_JSON_LINE
            result = await self._exec(state, conn, line, self._settings.command_timeout)
            try:
                if result.exit_status == 127:  # no vtysh: only the op-mode text form works
                    raise UnsupportedCommand("vtysh not found")
                return await parse_off_loop(
                    parse_bgp_summary, result.text, deadline=OP_PARSE_DEADLINE, what=line
                )
            except UnsupportedCommand:
                state.bgp_json_unsupported = True
                log.info("vyos.bgp_json_unsupported", router=state.endpoint.name)
            except ParseError as exc:
                if result.exit_status != 0:
                    detail = f"{line} failed with exit status {result.exit_status}"
                    raise CommandFailed(state.endpoint.name, detail) from None
                raise ParseError(f"{line}: {exc}") from None
        return await self._parsed_op(state, conn, script.BGP_SUMMARY_TEXT, parse_bgp_summary)

    async def _parsed_op(
        self, state: _RouterState, conn: Conn, command: str, parse: Callable[[str], T]
    ) -> T:
        text = await self._checked_op(state, conn, command, script.op_command_line(command))
        try:
            return await parse_off_loop(parse, text, deadline=OP_PARSE_DEADLINE, what=command)
        except ParseError as exc:
            raise ParseError(f"{command}: {exc}") from None

    async def _checked_op(self, state: _RouterState, conn: Conn, command: str, line: str) -> str:
        result = await self._exec(state, conn, line, self._settings.command_timeout)
        failure = script.op_failure(
            result.text,
            result.exit_status,
            not_running_is_an_answer=command in script.SA_LISTINGS,
        )
        if failure is not None:
            detail = f"{command!r} failed: {failure}"
            raise CommandFailed(state.endpoint.name, detail, exit_status=result.exit_status)
        return result.stdout

    async def _exec(
        self, state: _RouterState, conn: Conn, line: str, limit: float, stdin: bytes = b""
    ) -> ExecResult:
        """Run one exec channel: stdin (if any) then EOF, output capped, `limit` seconds."""
        session = CappedSession(self._settings.max_output_bytes)
        chans: list[asyncssh.SSHClientChannel[bytes]] = []

        async def run() -> None:
            chan, _ = await conn.create_session(lambda: session, line, encoding=None)
            chans.append(chan)
            if stdin:
                chan.write(stdin)
            chan.write_eof()
            await session.finished

        try:
            await self._bounded(state, run, limit, "command")
        finally:
            if chans and not session.finished.done():
                chans[0].abort()  # timed out or cancelled: do not leave the command running
        if session.too_large:
            cap = self._settings.max_output_bytes
            raise OutputTooLarge(state.endpoint.name, f"output exceeded {cap} bytes")
        if session.lost is not None:
            self._forget(state)
            detail = f"connection lost during a command: {describe(session.lost)}"
            raise SshUnreachable(state.endpoint.name, detail)
        await chans[0].wait_closed()
        return session.result(chans[0].get_exit_status())

    async def _bounded(
        self, state: _RouterState, work: Callable[[], Awaitable[T]], limit: float, what: str
    ) -> T:
        """Run `work` under the fleet semaphore and a timeout; SSH failures become typed."""
        async with self._sem:
            try:
                async with asyncio.timeout(limit):
                    return await work()
            except TimeoutError:
                detail = f"{what} did not finish within {limit:g}s"
                raise SshTimeout(state.endpoint.name, detail) from None
            except (asyncssh.ChannelOpenError, asyncssh.DisconnectError, OSError) as exc:
                self._forget(state)
                detail = f"SSH session failed: {describe(exc)}"
                raise SshUnreachable(state.endpoint.name, detail) from None

    async def _sftp(
        self, router: RouterEndpoint, what: str, doing: str, work: Callable[[Conn], Awaitable[T]]
    ) -> T:
        """One SFTP session's `work`, bounded like a config command; SFTP errors name `doing`."""
        state, conn = await self._connection(router)
        try:
            return await self._bounded(
                state, lambda: work(conn), self._settings.config_timeout, what
            )
        except asyncssh.SFTPError as exc:
            raise CommandFailed(router.name, f"{doing} failed: {exc.reason}") from None

    # ---------------------------------------------------------------- connections

    def _state_for(self, router: RouterEndpoint) -> _RouterState:
        state = self._states.get(router.name)
        if state is not None and state.endpoint != router:  # relaunched / moved: start afresh
            self._forget(state)
            state = None
        if state is None:
            state = self._states[router.name] = _RouterState(router, asyncio.Lock())
        return state

    def _retire(self, conn: Conn) -> None:
        """Remember closing connections until they are closed, so `close()` can await them."""
        self._retired = [c for c in self._retired if not c.is_closed()] + [conn]

    def _forget(self, state: _RouterState) -> None:
        if state.conn is not None:
            state.conn.close()
            self._retire(state.conn)
            state.conn = None

    def _on_connection_lost(self, conn: Conn) -> None:
        for state in self._states.values():
            if state.conn is conn:
                state.conn = None
                self._retire(conn)
                log.info("vyos.connection_lost", router=state.endpoint.name)

    async def _connection(self, router: RouterEndpoint) -> tuple[_RouterState, Conn]:
        if self._closed:
            raise SshUnreachable(router.name, "the SSH client is closed")
        state = self._state_for(router)
        async with state.lock:
            if state.conn is not None:
                return state, state.conn
            remaining = state.retry_at - self._clock()
            if state.last_error is not None and remaining > 0:
                last = state.last_error
                raise type(last)(router.name, f"{last.detail} (next attempt in {remaining:.1f}s)")
            try:
                conn = await self._connect(router)
            except SshError as exc:
                state.failures += 1
                delay = script.reconnect_delay(
                    state.failures,
                    self._settings.reconnect_backoff_initial,
                    self._settings.reconnect_backoff_max,
                )
                state.retry_at, state.last_error = self._clock() + delay, exc
                log.warning(
                    "vyos.connect_failed", router=router.name, error=exc.detail,
                    kind=str(exc.kind), failures=state.failures, retry_in=delay,
                )  # fmt: skip
                raise
            state.conn, state.failures, state.last_error = conn, 0, None
            log.info("vyos.connected", router=router.name, host=router.host, port=router.port)
            return state, conn

    async def _connect(self, router: RouterEndpoint) -> Conn:
        trusted = self._keys.trusted(router)
        client_key = self._load_client_key(router)
        s, where = self._settings, f"{router.host}:{router.port}"
        try:
            async with self._sem, asyncio.timeout(s.connect_timeout):
                return await asyncssh.connect(
                    router.host, router.port, username=s.user, client_keys=[client_key],
                    known_hosts=trusted, config=None, agent_path=None, x509_trusted_certs=None,
                    gss_host=None, password_auth=False, kbdint_auth=False,
                    host_based_auth=False, connect_timeout=s.connect_timeout,
                    keepalive_interval=s.keepalive_interval,
                    keepalive_count_max=s.keepalive_count_max,
                    encryption_algs=_CIPHERS,
                    client_factory=lambda: ConnectionWatcher(self._on_connection_lost),
                )  # fmt: skip
        except asyncssh.HostKeyNotVerifiable:
            raise await self._keys.mismatch(router, trusted[0]) from None
        except asyncssh.PermissionDenied:
            detail = f"user {s.user!r} was refused with the key {self._key_file}"
            raise SshAuthFailed(router.name, detail) from None
        except TimeoutError:
            detail = f"{where}: connect timed out after {s.connect_timeout:g}s"
            raise SshUnreachable(router.name, detail) from None
        except (asyncssh.Error, OSError) as exc:
            raise SshUnreachable(router.name, f"{where}: {describe(exc)}") from None

    def _load_client_key(self, router: RouterEndpoint) -> asyncssh.SSHKey:
        if self._client_key is None:
            path = self._key_file
            with contextlib.suppress(OSError, ValueError):  # its lines are known secrets
                remember_secrets(private_key_lines(path.read_text(errors="replace")))
            try:
                self._client_key = asyncssh.read_private_key(path)
            except (OSError, asyncssh.KeyImportError) as exc:
                # the reason only ("Passphrase must be specified"...), never the file content
                reason = exc.strerror if isinstance(exc, OSError) else str(exc)
                raise SshAuthFailed(router.name, f"cannot load SSH key {path}: {reason}") from None
        return self._client_key
