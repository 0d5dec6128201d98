"""asyncssh plumbing of the VyOS adapter: where a router is, which host keys it may present,
the session that collects one command's capped output, and the SFTP transfers. `vyos.py` is
the client."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncssh

from vpnwatch.adapters import vyos_script as script
from vpnwatch.adapters.vyos_errors import HostKeyMismatch, SshError, SshUnreachable
from vpnwatch.adapters.vyos_script import ExecResult, describe
from vpnwatch.parsers._util import is_ip_address

Conn = asyncssh.SSHClientConnection
Keys = list[asyncssh.SSHKey]


@dataclass(frozen=True)
class RouterEndpoint:
    name: str
    host: str
    port: int = 22
    # If non-empty, exactly these OpenSSH public keys are trusted instead of known_hosts
    # (after a relaunch: the keys printed on the new instance's EC2 console).
    trusted_host_keys: tuple[str, ...] = ()

    @classmethod
    def of_router(
        cls,
        name: str,
        *,
        ssh_host: str | None,
        elastic_ip: str | None,
        port: int,
        trusted_key: str | None = None,
    ) -> RouterEndpoint | None:
        """Where to reach a router: its configured ssh_host, else its Elastic IP (None: no
        address known). `trusted_key`: the verified key of a relaunched router."""
        host = ssh_host or elastic_ip
        if host is None:
            return None
        return cls(name, host, port, (trusted_key,) if trusted_key else ())


class CappedSession(asyncssh.SSHClientSession[bytes]):
    """Collects a command's stdout/stderr; aborts the channel once the cap is exceeded."""

    def __init__(self, cap: int) -> None:
        self._cap, self._size = cap, 0
        self._out: list[bytes] = []
        self._err: list[bytes] = []
        self._chan: asyncssh.SSHClientChannel[bytes] | None = None
        self.too_large = False
        self.lost: Exception | None = None  # set when the connection died under the command
        self.finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, chan: asyncssh.SSHClientChannel[bytes]) -> None:
        self._chan = chan

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        if self.too_large:
            return
        self._size += len(data)
        if self._size > self._cap:
            self.too_large = True
            if self._chan is not None:
                self._chan.abort()
            self._finish()
            return
        (self._err if datatype == asyncssh.EXTENDED_DATA_STDERR else self._out).append(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = exc
        self._finish()

    def _finish(self) -> None:
        if not self.finished.done():
            self.finished.set_result(None)

    def result(self, exit_status: int | None) -> ExecResult:
        out, err = b"".join(self._out), b"".join(self._err)
        return ExecResult(out.decode(errors="replace"), err.decode(errors="replace"), exit_status)


class ConnectionWatcher(asyncssh.SSHClient):
    """Tells the client when a connection goes away, so the next call reconnects."""

    def __init__(self, on_lost: Callable[[Conn], None]) -> None:
        self._on_lost = on_lost
        self._conn: Conn | None = None

    def connection_made(self, conn: Conn) -> None:
        self._conn = conn

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn is not None:
            self._on_lost(self._conn)


def _unique(keys: Sequence[asyncssh.SSHKey]) -> Keys:
    return list(dict.fromkeys(keys))


def _fingerprint(key: asyncssh.SSHKey) -> str:
    return f"{key.get_algorithm()} {key.get_fingerprint()}"


class HostKeyTrust:
    """Which host keys a router may present: the endpoint's own trusted keys (a relaunched
    router), else its known_hosts entries. Nothing is ever trusted on first use."""

    def __init__(self, known_hosts: Path, sem: asyncio.Semaphore, timeout: float) -> None:
        self._path = known_hosts
        self._sem = sem
        self._timeout = timeout
        self._cache: tuple[tuple[int, int], asyncssh.SSHKnownHosts] | None = None

    def endpoint_keys(self, router: RouterEndpoint) -> Keys:
        try:
            return [asyncssh.import_public_key(k) for k in router.trusted_host_keys]
        except asyncssh.KeyImportError as exc:
            detail = f"a trusted_host_keys entry is not an OpenSSH public key: {exc}"
            raise HostKeyMismatch(router.name, detail) from None

    def trusted(self, router: RouterEndpoint) -> tuple[Keys, Keys, Keys]:
        """(host keys, CA keys, revoked keys) for this router. Empty lists trust nothing."""
        if router.trusted_host_keys:
            return self.endpoint_keys(router), [], []
        try:
            known = self._known_hosts()
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else str(exc)
            raise HostKeyMismatch(
                router.name, f"cannot read known_hosts {self._path}: {reason}"
            ) from None
        addr = router.host if is_ip_address(router.host) else ""
        port = router.port if router.port != 22 else None
        keys, ca_keys, revoked, *_ = known.match(router.host, addr, port)
        # a host given as an IP matches both as name and as address: drop the duplicates
        return _unique(keys), _unique(ca_keys), _unique(revoked)

    def _known_hosts(self) -> asyncssh.SSHKnownHosts:
        """Parsed once per change of the file (mtime, size): a 1,000-router file takes ms
        to parse, and reading it per connect stalled the loop on large fleets."""
        stat = self._path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        if self._cache is None or self._cache[0] != stamp:
            self._cache = (stamp, asyncssh.read_known_hosts(str(self._path)))
        return self._cache[1]

    async def fetch(self, router: RouterEndpoint, like: Sequence[asyncssh.SSHKey]) -> str:
        """The key the router presents now ("alg base64"), without trusting it."""
        algs = sorted({alg.decode() for key in like for alg in key.sig_algorithms})
        options = asyncssh.SSHClientConnectionOptions(config=None, connect_timeout=self._timeout)
        try:
            async with self._sem, asyncio.timeout(self._timeout):
                key = await asyncssh.get_server_host_key(
                    router.host, router.port, config=None, options=options,
                    server_host_key_algs=algs or (),
                )  # fmt: skip
        except TimeoutError:
            raise SshUnreachable(router.name, "timed out fetching the host key") from None
        except (asyncssh.Error, OSError) as exc:
            raise SshUnreachable(router.name, f"cannot fetch host key: {describe(exc)}") from None
        if key is None:
            raise SshUnreachable(router.name, "the server presented no host key")
        return " ".join(key.export_public_key("openssh").decode().split()[:2])

    async def mismatch(self, router: RouterEndpoint, expected: Keys) -> HostKeyMismatch:
        """The error for a router whose key was not trusted, with both fingerprints."""
        source = (
            "its trusted_host_keys" if router.trusted_host_keys else f"known_hosts {self._path}"
        )
        presented: str | None
        try:
            live = await self.fetch(router, expected)
            presented = _fingerprint(asyncssh.import_public_key(live))
        except SshError:
            presented = None
        fps = tuple(_fingerprint(k) for k in expected)
        where = f"{router.host}:{router.port}"
        detail = script.host_key_detail(where, source, presented, fps)
        return HostKeyMismatch(router.name, detail, presented=presented, expected=fps)


def sftp_write(path: str, data: bytes, mode: int) -> Callable[[Conn], Awaitable[None]]:
    async def write(conn: Conn) -> None:
        async with conn.start_sftp_client() as sftp:
            attrs = asyncssh.SFTPAttrs(permissions=mode)
            async with sftp.open(path, "wb", attrs, encoding=None) as remote:
                await sftp.chmod(path, mode)  # the file may have existed already
                await remote.write(data)

    return write


def sftp_read(path: str, max_bytes: int) -> Callable[[Conn], Awaitable[bytes]]:
    async def read(conn: Conn) -> bytes:
        async with conn.start_sftp_client() as sftp, sftp.open(path, "rb", encoding=None) as f:
            data: bytes = await f.read(max_bytes)
            return data

    return read


def sftp_remove(path: str) -> Callable[[Conn], Awaitable[None]]:
    async def remove(conn: Conn) -> None:
        async with conn.start_sftp_client() as sftp:
            if await sftp.exists(path):
                await sftp.remove(path)

    return remove
