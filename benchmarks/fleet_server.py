"""The router side of benchmarks/poll_fleet.py: N simulated VyOS routers in their own process.

Run by poll_fleet.py as a child process, so the poller's RSS and CPU time are its own.
Writes the routers' host keys to a known_hosts file, prints one JSON line
`{"ready": true, "routers": [[name, port], ...]}` on stdout, then serves until its stdin
closes (the parent ended, however it ended) or it gets SIGTERM/SIGINT, and stops every
router before exiting.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from vpnwatch.lab.vyos_sim import VERSIONS, RouterFleet, SimulatedRouter, Timings, TunnelSpec

LOCAL_AS = 65010
# Negotiations complete at once: every session is Established when the poller first looks.
INSTANT = Timings(ipsec_setup=0.0, bgp_setup=0.0)


def router_name(index: int) -> str:
    return f"bench-r{index:04d}"


def spoke_tunnels(index: int) -> tuple[TunnelSpec, ...]:
    """One AWS VPN connection (two tunnels) per router, as in the article's spokes."""
    return tuple(
        TunnelSpec.from_cidr(
            f"52.{(index >> 8) & 255}.{index & 255}.{tunnel + 1}",
            f"169.254.{10 + tunnel}.{4 * (index % 64)}/30",
            secrets.token_hex(12),
            prefixes=("10.0.0.0/16",),
        )
        for tunnel in range(2)
    )


def make_router(index: int, client_public_key: str, version: str) -> SimulatedRouter:
    return SimulatedRouter(
        router_name(index), version=version, local_as=LOCAL_AS, tunnels=spoke_tunnels(index),
        authorized_client_key=client_public_key, role="spoke",
        vpc_cidr=f"10.{1 + index // 256}.{index % 256}.0/24", timings=INSTANT,
    )  # fmt: skip


async def wait_for_parent(stop: asyncio.Event) -> None:
    """Return when stdin reaches EOF (the parent closed it or died) or `stop` is set."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
    )
    eof = asyncio.ensure_future(reader.read())
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({eof, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in (eof, stopped):
            waiter.cancel()
        await asyncio.gather(eof, stopped, return_exceptions=True)
        transport.close()


async def serve(count: int, client_public_key: str, known_hosts: Path, version: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    fleet = RouterFleet(make_router(i, client_public_key, version) for i in range(count))
    try:
        await fleet.start()
        lines = "".join(router.known_hosts_line() + "\n" for router in fleet)
        await asyncio.to_thread(known_hosts.write_text, lines, encoding="utf-8")
        ready = {"ready": True, "routers": [[r.name, r.port] for r in fleet]}
        print(json.dumps(ready), flush=True)
        await wait_for_parent(stop)
    finally:
        await fleet.stop()


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routers", type=int, required=True)
    parser.add_argument("--client-key-pub", type=Path, required=True)
    parser.add_argument("--known-hosts", type=Path, required=True)
    parser.add_argument("--vyos-version", choices=VERSIONS, default="1.4")
    parser.add_argument("--cpus", type=str, default=None, help="CPU list to pin to, e.g. 1")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.cpus:
        os.sched_setaffinity(0, {int(cpu) for cpu in args.cpus.split(",")})
    client_public_key = args.client_key_pub.read_text(encoding="utf-8").strip()
    asyncio.run(serve(args.routers, client_public_key, args.known_hosts, args.vyos_version))
    return 0


if __name__ == "__main__":
    sys.exit(main())
