"""What poll_fleet.py needs around the measurement: the fleet process, accounting, checks.

The router fleet runs in a child process (fleet_server.py) so the poller's RSS and CPU time
are its own; CPU time of both processes and RSS are read from /proc.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncssh

from vpnwatch.adapters.vyos import RouterEndpoint
from vpnwatch.model import BgpSummary, IkeSaList, IpsecSaList, RouterSshView

FLEET_SERVER = Path(__file__).with_name("fleet_server.py")
TUNNELS_PER_ROUTER = 2  # fleet_server.py gives every router one VPN connection


class BenchmarkError(Exception):
    """The benchmark could not measure what it claims to (a router answered wrongly...)."""


@dataclass(frozen=True)
class Fleet:
    pid: int
    endpoints: tuple[RouterEndpoint, ...]
    key_file: Path
    known_hosts: Path


@dataclass(frozen=True)
class Cost:
    """One timed stretch: wall seconds, CPU seconds of this process and of the fleet."""

    wall: float
    poller_cpu: float
    fleet_cpu: float

    def describe(self) -> str:
        return (
            f"{self.wall:.3f} s wall, poller CPU {self.poller_cpu:.3f} s, "
            f"fleet CPU {self.fleet_cpu:.3f} s"
        )


# ---------------------------------------------------------------- process accounting


def _proc_file(pid: int | str, name: str) -> str:
    try:
        return Path(f"/proc/{pid}/{name}").read_text(encoding="ascii")
    except OSError:
        raise BenchmarkError(f"process {pid} is gone (the router fleet died?)") from None


def _status_kb(field: str, pid: int | str) -> float:
    for line in _proc_file(pid, "status").splitlines():
        if line.startswith(f"{field}:"):
            return float(line.split()[1])
    raise BenchmarkError(f"/proc/{pid}/status has no {field}")


def rss_mb(pid: int | str = "self") -> float:
    return _status_kb("VmRSS", pid) / 1024


def peak_rss_mb(pid: int | str = "self") -> float:
    return _status_kb("VmHWM", pid) / 1024


def own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def child_cpu_seconds(pid: int) -> float:
    fields = (
        _proc_file(pid, "stat").rsplit(")", 1)[1].split()
    )  # fields after "pid (comm)", from state on
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


async def measured(fleet: Fleet, work: Callable[[], Awaitable[None]]) -> Cost:
    cpu, fleet_cpu, start = own_cpu_seconds(), child_cpu_seconds(fleet.pid), time.perf_counter()
    await work()
    wall = time.perf_counter() - start
    return Cost(wall, own_cpu_seconds() - cpu, child_cpu_seconds(fleet.pid) - fleet_cpu)


def cpus(pid: int = 0) -> tuple[int, ...]:
    """The CPUs the process may run on (0: this one)."""
    return tuple(sorted(os.sched_getaffinity(pid)))


def pin(cpu_list: str | None) -> None:
    """Pin this process to e.g. "0" or "0,1" (None: leave it)."""
    if cpu_list:
        os.sched_setaffinity(0, {int(cpu) for cpu in cpu_list.split(",")})


# ---------------------------------------------------------------- checking answers


def up_counts(
    bgp: BgpSummary | None, ike: IkeSaList | None, ipsec: IpsecSaList | None
) -> tuple[int, int, int]:
    """(BGP sessions Established, IKE SAs up, IPsec SAs up)."""
    return (
        sum(n.established for n in bgp.neighbors) if bgp else 0,
        sum(sa.state == "up" for sa in ike.ike_sas) if ike else 0,
        sum(sa.state == "up" for sa in ipsec.ipsec_sas) if ipsec else 0,
    )


def check_answer(router: str, counts: tuple[int, int, int], error: str | None = None) -> None:
    """Every router has all its tunnels up: anything else is a broken measurement."""
    expected = (TUNNELS_PER_ROUTER,) * 3
    if error is not None or counts != expected:
        raise BenchmarkError(
            f"{router}: expected (bgp, ike, ipsec) up = {expected}, got {counts}"
            + (f"; error: {error}" if error else "")
        )


def check_views(views: Sequence[RouterSshView]) -> None:
    for view in views:
        check_answer(view.router, up_counts(view.bgp, view.ike, view.ipsec), view.error)


# ---------------------------------------------------------------- the fleet process


def write_client_key(folder: Path) -> Path:
    key = asyncssh.generate_private_key("ssh-ed25519")
    path = folder / "id_ed25519"
    path.touch(mode=0o600)
    path.write_bytes(key.export_private_key())
    path.with_suffix(".pub").write_bytes(key.export_public_key())
    return path


def start_fleet(
    folder: Path, routers: int, vyos_version: str, fleet_cpus: str | None
) -> subprocess.Popen[str]:
    key_file = write_client_key(folder)
    command = [
        sys.executable, str(FLEET_SERVER), "--routers", str(routers),
        "--client-key-pub", str(key_file.with_suffix(".pub")),
        "--known-hosts", str(folder / "known_hosts"), "--vyos-version", vyos_version,
    ]  # fmt: skip
    if fleet_cpus:
        command += ["--cpus", fleet_cpus]
    # Its own session: Ctrl-C reaches only us, and we stop it in order (stdin EOF).
    return subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True
    )


def wait_until_ready(proc: subprocess.Popen[str], folder: Path, timeout: float) -> Fleet:
    """The fleet once it printed its ready line (its routers and ports)."""
    if proc.stdout is None:
        raise BenchmarkError("the router fleet has no stdout pipe")
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        readable, _, _ = select.select([proc.stdout], [], [], max(remaining, 0))
        if not readable:
            raise BenchmarkError(f"the router fleet did not start within {timeout:g}s")
        line = proc.stdout.readline()
        if not line:
            raise BenchmarkError(f"the router fleet exited early (status {proc.wait()})")
        if line.startswith('{"ready"'):
            routers = json.loads(line)["routers"]
            endpoints = tuple(RouterEndpoint(name, "127.0.0.1", port) for name, port in routers)
            return Fleet(proc.pid, endpoints, folder / "id_ed25519", folder / "known_hosts")


def stop_fleet(proc: subprocess.Popen[str]) -> None:
    """Close its stdin (it stops every router and exits); force it after a grace period."""
    if proc.stdin is not None:
        with contextlib.suppress(OSError):
            proc.stdin.close()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()
