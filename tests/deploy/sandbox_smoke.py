"""What vpnwatch does at run time, executed inside the emulated systemd sandbox.

First proves the sandbox is on (W+X memory, netlink sockets, @privileged and @resources
calls are refused), then imports the product, opens a real SSH session on loopback with
key auth and a known_hosts file, takes the state store's lease and writes to it, builds a
boto3 client and a TLS context, resolves a name and serves one HTTP request. Prints
"sandbox smoke ok" at the end.
"""

from __future__ import annotations

import asyncio
import mmap
import os
import socket
import sys
import tempfile
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread


def expect_refused(what: str, call: object) -> None:
    try:
        call()  # type: ignore[operator]
    except OSError:
        return
    sys.exit(f"sandbox is not active: {what} was allowed")


def sandbox_is_active() -> None:
    expect_refused(
        "W+X mmap",
        lambda: mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC),
    )
    expect_refused("AF_NETLINK socket", lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW))
    expect_refused("setgroups (@privileged)", lambda: os.setgroups([]))
    expect_refused(
        "sched_setaffinity (@resources)", lambda: os.sched_setaffinity(0, os.sched_getaffinity(0))
    )


async def ssh_round_trip(workdir: Path) -> str:
    import asyncssh

    host_key = asyncssh.generate_private_key("ssh-ed25519")
    client_key = asyncssh.generate_private_key("ssh-ed25519")
    authorized = asyncssh.import_authorized_keys(client_key.export_public_key().decode())

    async def handle(process: asyncssh.SSHServerProcess[str]) -> None:
        process.stdout.write(f"ran: {process.command}\n")
        process.exit(0)

    server = await asyncssh.create_server(
        asyncssh.SSHServer,
        "127.0.0.1",
        0,
        server_host_keys=[host_key],
        authorized_client_keys=authorized,
        process_factory=handle,
    )
    port = server.sockets[0].getsockname()[1]
    key_file = workdir / "id_ed25519"
    key_file.write_bytes(client_key.export_private_key())
    known_hosts = workdir / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{port} {host_key.export_public_key().decode()}")
    try:
        async with asyncssh.connect(
            "127.0.0.1",
            port,
            username="vyos",
            client_keys=[str(key_file)],
            known_hosts=str(known_hosts),
        ) as conn:
            result = await conn.run("show ip bgp summary", check=True)
            return str(result.stdout)
    finally:
        server.close()
        await server.wait_closed()


def http_round_trip() -> bytes:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/healthz"
        with urllib.request.urlopen(url, timeout=5) as response:
            return bytes(response.read())
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def state_round_trip(workdir: Path) -> bool:
    """The state store's lease (flock) and a fenced, atomic, fsynced write."""
    from vpnwatch.core.memory import GuardMemory, Memory
    from vpnwatch.statestore.files import FileStateStore
    from vpnwatch.statestore.lease import FileLease
    from vpnwatch.vocabulary import Mode

    lease = FileLease(workdir / "state")
    fence = lease.acquire()
    assert fence is not None
    store = FileStateStore(workdir / "state", lease=lease)
    store.save_memory(Mode.LIVE, Memory(guards=GuardMemory(breaker_open=True)), fence=fence)
    lease.release()
    return FileStateStore(workdir / "state").read(Mode.LIVE).memory.guards.breaker_open


def main() -> None:
    sandbox_is_active()
    import ssl

    import boto3

    import vpnwatch.cli
    import vpnwatch.config
    import vpnwatch.metrics

    assert vpnwatch.cli.main is not None and vpnwatch.config and vpnwatch.metrics
    boto3.session.Session(region_name="us-east-1").client("ec2", endpoint_url="http://127.0.0.1:1")
    ssl.create_default_context()
    assert socket.getaddrinfo("localhost", 443, type=socket.SOCK_STREAM)
    with tempfile.TemporaryDirectory() as tmp:
        out = asyncio.run(ssh_round_trip(Path(tmp)))
        assert state_round_trip(Path(tmp))
    assert out == "ran: show ip bgp summary\n", out
    assert http_round_trip() == b"ok"
    print("sandbox smoke ok")


if __name__ == "__main__":
    main()
