"""SimulatedRouter: a RouterCore behind its own asyncssh server (host key, port, SFTP)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import shutil
import tempfile
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import asyncssh

from vpnwatch.lab.vyos_sim.article import Role, article_config_commands, base_config_commands
from vpnwatch.lab.vyos_sim.core import AwsTunnelView, Fault, RouterCore
from vpnwatch.lab.vyos_sim.formats import check_version
from vpnwatch.lab.vyos_sim.host_files import (
    apply_edits,
    disk_host_key,
    login_key_data,
    write_host_key,
    write_router_files,
)
from vpnwatch.lab.vyos_sim.runtime import Timings, TunnelSpec
from vpnwatch.lab.vyos_sim.shell import run_command
from vpnwatch.lab.vyos_sim.tree import tree_from_commands

USER = "vyos"
_GARBAGE = (
    "lorem",
    "ipsum",
    "0xdeadbeef",
    "%%",
    "<<<",
    "kernel:",
    "???",
    "NaN",
    "}{",
    "segfault",
    "~~~",
    "0000:00:1f.2",
    "ENOMEM",
    "#!",
    "...",
    "qwerty",
    "\\x00",
)


class _SshServer(asyncssh.SSHServer):
    def __init__(self, router: SimulatedRouter) -> None:
        self._router = router
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._router._connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn is not None:
            self._router._connections.discard(self._conn)

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return False

    def kbdint_auth_supported(self) -> bool:
        return False

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return username == USER and self._router.authorized(key)


class _RouterSftp(asyncssh.SFTPServer):
    """The router's filesystem; relative paths start in /home/vyos, as for the real user."""

    def __init__(self, chan: asyncssh.SSHServerChannel[bytes], root: Path) -> None:
        super().__init__(chan, chroot=str(root).encode())

    def map_path(self, path: bytes) -> bytes:
        if not path.startswith(b"/"):
            path = b"/home/vyos/" + path
        return super().map_path(path)

    def symlink(self, oldpath: bytes, newpath: bytes) -> None:
        raise asyncssh.SFTPPermissionDenied("symbolic links are not allowed here")


class SimulatedRouter:
    """One simulated VyOS router: SSH on 127.0.0.1, op-mode/config answers, fault switches.

    `config_commands`: None → the article's config for `tunnels` (with `role`, `vpc_cidr`);
    [] → a freshly launched router (AMI defaults only); otherwise these `set` lines on top of
    the AMI defaults. That config is the saved (boot) config; `start()` boots it.

    Logins: `login_keys` ((name, "type base64 [comment]") pairs) are the AMI's login user's
    keys, as cloud-init writes them; `authorized_client_key` alone is one key named
    `vpnwatch-lab`. Like VyOS, SSH authorizes the keys of the *running* config's
    `system login user vyos`, so a commit that changes them changes who may log in.
    `edits` are (action, path, value) changes made to the saved config before the first
    boot (cloud-init's `vyos_config_commands`); `files` are written before it (`write_files`).
    `host_key` is the key sshd has on disk; `presented_key` (default: the same) is the key
    the SSH endpoint presents (another one models a man in the middle).
    """

    def __init__(
        self,
        name: str,
        *,
        version: str = "1.4",
        local_as: int,
        tunnels: Sequence[TunnelSpec],
        authorized_client_key: str | None = None,
        login_keys: Sequence[tuple[str, str]] | None = None,
        clock: Callable[[], float] = time.time,
        config_commands: Sequence[str] | None = None,
        role: Role = "spoke",
        vpc_cidr: str = "10.0.0.0/16",
        private_ip: str = "10.0.0.10",
        timings: Timings | None = None,
        host_key: asyncssh.SSHKey | None = None,
        presented_key: asyncssh.SSHKey | None = None,
        mac: str | None = None,
        edits: Sequence[tuple[str, Sequence[str], str | None]] = (),
        files: Mapping[str, tuple[bytes, int, bool]] | None = None,
    ) -> None:
        self.name = name
        self.version = check_version(version)
        root = Path(tempfile.mkdtemp(prefix=f"vyos-sim-{name}-"))
        self._cleanup = weakref.finalize(self, shutil.rmtree, root, True)
        write_router_files(root, files or {})
        # sshd keeps a host key that write_files put on disk (service_ssh.py)
        self._disk_key = disk_host_key(root) or host_key
        self._disk_key = self._disk_key or asyncssh.generate_private_key("ssh-ed25519")
        write_host_key(root, self._disk_key)
        self._host_key = presented_key or self._disk_key
        self._rng = random.Random(name)  # garbage text and a MAC address, not security
        mac = mac or ":".join(["0a", *(f"{self._rng.randrange(256):02x}" for _ in range(5))])
        if config_commands is None:
            config_commands = article_config_commands(
                name,
                local_as,
                tunnels,
                role=role,
                vpc_cidr=vpc_cidr,
                private_ip=private_ip,
                version=self.version,
            )
        if login_keys is None:
            if authorized_client_key is None:
                raise ValueError("give login_keys or authorized_client_key")
            login_keys = [("vpnwatch-lab", authorized_client_key.strip())]
        initial = tree_from_commands(
            self.version,
            [*base_config_commands(self.version, mac=mac, logins=login_keys), *config_commands],
        )
        self.cloud_init_problems = apply_edits(initial, edits)
        self.core = RouterCore(
            name=name,
            version=self.version,
            local_as=local_as,
            private_ip=private_ip,
            tunnels=tunnels,
            clock=clock,
            timings=timings or Timings(),
            fs_root=root,
            initial=initial,
        )
        self.host = "127.0.0.1"
        self.port = 0
        self.slow_delay = 2.0
        self._listener: asyncssh.SSHAcceptor | None = None
        self._connections: set[asyncssh.SSHServerConnection] = set()
        self._handlers: set[asyncio.Task[Any]] = set()
        self._unhung = asyncio.Event()
        self._unhung.set()
        self._stopped = False

    # ---------------------------------------------------------------- identity

    @property
    def host_key_public(self) -> str:
        """The host key the SSH endpoint presents, in OpenSSH form: "ssh-ed25519 AAAA..."."""
        return " ".join(self._host_key.export_public_key("openssh").decode().split()[:2])

    @property
    def host_key_fingerprint(self) -> str:
        return str(self._host_key.get_fingerprint("sha256"))

    def authorized(self, key: asyncssh.SSHKey) -> bool:
        """Whether the running config's login user `vyos` has this public key."""
        return key.public_data in login_key_data(self.core.running.root)

    def known_hosts_line(self) -> str:
        return f"[{self.host}]:{self.port} {self.host_key_public}"

    # ---------------------------------------------------------------- lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Boot the router and listen; returns the port."""
        if self._stopped:
            raise RuntimeError(f"router {self.name} was stopped; create a new one")
        self.host = host
        self.core.boot()
        await self._listen(port)
        return self.port

    async def _listen(self, port: int) -> None:
        root = self.core.fs_root
        self._listener = await asyncssh.create_server(
            lambda: _SshServer(self),
            self.host,
            port,
            server_host_keys=[self._host_key],
            process_factory=self._handle,
            sftp_factory=lambda chan: _RouterSftp(chan, root),
            allow_scp=False,
            x509_trusted_certs=None,
            gss_host=None,
            agent_forwarding=False,
            x11_forwarding=False,
            login_timeout=30,
        )
        self.port = self._listener.get_port()

    async def _drop_connections(self) -> None:
        if self._listener is not None:
            self._listener.close()
            await self._listener.wait_closed()
            self._listener = None
        conns = list(self._connections)
        for conn in conns:
            conn.abort()
        for conn in conns:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.wait_closed(), 5)
        handlers = list(self._handlers)
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)

    async def stop(self) -> None:
        """Terminate: close everything and delete the router's files."""
        self._stopped = True
        self.core.power_off()
        await self._drop_connections()
        self._cleanup()

    async def reboot(self, *, clear_faults: bool = True) -> None:
        """Drop every connection, lose what was not saved, come back on the same port.

        A reboot cures the software faults (hang, bgp-down, ipsec-down, garbage, slow)
        unless `clear_faults` is False; the lab re-applies a fault that should outlive it.
        """
        await self.set_fault(Fault.CRASH)
        if clear_faults:
            await self.clear_fault()
        else:
            await self.clear_fault(Fault.CRASH)

    # ---------------------------------------------------------------- faults

    @property
    def faults(self) -> frozenset[Fault]:
        return frozenset(self.core.faults)

    @property
    def alive(self) -> bool:
        return self.core.alive

    async def set_fault(self, kind: Fault | str, *, delay: float | None = None) -> None:
        fault = Fault(kind)
        if fault is Fault.SLOW and delay is not None:
            self.slow_delay = delay
        if fault in self.core.faults:
            return
        self.core.set_fault(fault)
        if fault is Fault.HANG:
            self._unhung.clear()
        elif fault is Fault.CRASH:
            self.core.power_off()
            await self._drop_connections()

    async def clear_fault(self, kind: Fault | str | None = None) -> None:
        """Clear one fault (None: all). Clearing a crash boots the saved config."""
        for fault in [Fault(kind)] if kind is not None else sorted(self.core.faults):
            if fault not in self.core.faults:
                continue
            self.core.clear_fault(fault)
            if fault is Fault.HANG:
                self._unhung.set()
            elif fault is Fault.CRASH and not self._stopped:
                self.core.boot()
                await self._listen(self.port)

    # ---------------------------------------------------------------- the SSH side

    def _garbage(self) -> str:
        words = [
            " ".join(self._rng.choices(_GARBAGE, k=self._rng.randint(1, 8)))
            for _ in range(self._rng.randint(1, 6))
        ]
        return "\n".join(words) + "\n"

    async def _wait_unhung(self, process: asyncssh.SSHServerProcess[str]) -> bool:
        """False when the client went away while the router hung."""
        released = asyncio.ensure_future(self._unhung.wait())
        closed = asyncio.ensure_future(process.wait_closed())
        try:
            await asyncio.wait({released, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in (released, closed):
                waiter.cancel()
            await asyncio.gather(released, closed, return_exceptions=True)
        return self._unhung.is_set()

    async def _handle(self, process: asyncssh.SSHServerProcess[str]) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            await self._serve(process)
        except (OSError, asyncssh.Error):
            pass  # the client went away mid-answer
        finally:
            if task is not None:
                self._handlers.discard(task)

    async def _serve(self, process: asyncssh.SSHServerProcess[str]) -> None:
        command = process.command
        if command is None:
            process.stdout.write("This simulated VyOS only runs exec commands.\n")
            process.exit(1)
            return
        stdin = await process.stdin.read() if "vbash -s" in command else ""
        if not self._unhung.is_set() and not await self._wait_unhung(process):
            return
        if Fault.SLOW in self.core.faults:
            await asyncio.sleep(self.slow_delay)
        if Fault.GARBAGE in self.core.faults:
            process.stdout.write(self._garbage())
            process.exit(0)
            return
        result = run_command(self.core, command, stdin)
        process.stdout.write(result.stdout)
        process.stderr.write(result.stderr)
        process.exit(result.status)

    # ---------------------------------------------------------------- what the lab reads

    def tunnel_up(self, outside_ip: str) -> bool:
        """IPsec to that AWS endpoint is up. A hung router's dataplane keeps running."""
        return self.core.tunnel_up(outside_ip)

    def bgp_up(self, outside_ip: str) -> bool:
        return self.core.bgp_up(outside_ip)

    def accepted_routes(self, outside_ip: str) -> int:
        """Routes AWS accepts from this router on that tunnel (what it advertises there)."""
        return self.core.accepted_routes(outside_ip)

    def aws_telemetry(self, outside_ip: str) -> AwsTunnelView:
        return self.core.aws_view(outside_ip)

    def update_tunnel(self, spec: TunnelSpec) -> bool:
        """AWS's side of one tunnel changed (new key, inside CIDR or algorithms)."""
        return self.core.update_tunnel(spec)

    def running_config_commands(self) -> list[str]:
        return self.core.running.commands()

    def saved_config_commands(self) -> list[str]:
        return self.core.saved_tree().commands()

    @property
    def files(self) -> dict[str, bytes]:
        """Every file of the router's filesystem, by its path on the router."""
        root = self.core.fs_root
        return {
            "/" + str(p.relative_to(root)): p.read_bytes()
            for p in sorted(root.rglob("*"))
            if p.is_file()
        }

    def state_dict(self) -> dict[str, Any]:
        _, neighbors = self.core.neighbor_statuses()
        _, sas = self.core.sa_statuses()
        return {
            "name": self.name,
            "version": self.version,
            "ssh": f"{self.host}:{self.port}" if self._listener is not None else None,
            "alive": self.alive,
            "faults": sorted(str(f) for f in self.core.faults),
            "bgp": {n.address: n.state for n in neighbors},
            "ipsec": {
                s.peer.remote_address or s.peer.name: "up" if s.state == "up" else "down"
                for s in sas
            },
        }
