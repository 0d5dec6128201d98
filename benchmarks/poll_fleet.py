"""How fast vpnwatch polls a fleet of VyOS routers, against a naive poller (issue 3 item 6).

    python benchmarks/poll_fleet.py [--routers N] [--cycles K] [--naive-sample M]

N simulated VyOS routers (vpnwatch.lab.vyos_sim) run on 127.0.0.1 in a child process
(benchmarks/fleet_server.py); this process is the poller alone, so its RSS and CPU time are
what the daemon would use. Measured here:

- vpnwatch's poller: one VyosClient, persistent connections, vpnwatch's default timeouts.
  A warm-up cycle connects to every router (repeated until all answer, see
  docs/performance.md); then K timed cycles observe all N routers concurrently
  (asyncio.gather, bounded by the client's max_concurrency). The median cycle is reported.
- a naive poller: a new SSH connection per command (BGP summary, IKE SAs, IPsec SAs), one
  router after another, plain asyncssh with the same known_hosts verification, parsed with
  vpnwatch.parsers. It polls M routers (--naive-sample) and is extrapolated linearly to N.

Every answer is checked (each router has 2 tunnels: 2 BGP sessions Established, 2 IKE SAs
and 2 IPsec SAs up), so a fast cycle of errors cannot pass for a result. The last line of
the output is one JSON object: routers, cycle_seconds, naive_cycle_seconds, ratio, rss_mb.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import statistics
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncssh

from vpnwatch.adapters.vyos import RouterEndpoint, VyosClient
from vpnwatch.config import SshConfig
from vpnwatch.errors import ParseError
from vpnwatch.logs import configure_logging
from vpnwatch.parsers import parse_bgp_summary, parse_ike_sa, parse_ipsec_sa

# Run as a script, only benchmarks/ is on sys.path: make the `benchmarks` package importable.
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))
from benchmarks.fleet_support import (
    TUNNELS_PER_ROUTER,
    BenchmarkError,
    Cost,
    Fleet,
    check_answer,
    check_views,
    cpus,
    measured,
    peak_rss_mb,
    pin,
    rss_mb,
    start_fleet,
    stop_fleet,
    up_counts,
    wait_until_ready,
)

OP_WRAPPER = "/opt/vyatta/bin/vyatta-op-cmd-wrapper"
NAIVE_COMMANDS = ("show ip bgp summary", "show vpn ike sa", "show vpn ipsec sa")
WARMUP_ROUNDS = 10


@dataclass(frozen=True)
class Options:
    routers: int
    cycles: int
    naive_sample: int
    max_concurrency: int
    connect_timeout: float
    command_timeout: float
    vyos_version: str
    poller_cpus: str | None
    fleet_cpus: str | None
    deadline: float
    profile: Path | None
    naive_rereads_known_hosts: bool


@dataclass(frozen=True)
class PollerResult:
    connect: Cost
    warmup_failures: tuple[int, ...]  # routers that failed in each warm-up round
    cycles: tuple[Cost, ...]
    base_rss_mb: float  # this process before the client existed (interpreter and imports)
    rss_mb: float
    peak_rss_mb: float
    fleet_rss_mb: float
    poller_cpus: tuple[int, ...]  # the CPUs each process was allowed to run on
    fleet_cpus: tuple[int, ...]


@dataclass(frozen=True)
class NaiveResult:
    sample: int
    cost: Cost

    def extrapolated(self, routers: int) -> float:
        return self.cost.wall * routers / self.sample


# ---------------------------------------------------------------- vpnwatch's poller


def ssh_settings(fleet: Fleet, opts: Options) -> SshConfig:
    return SshConfig(
        user="vyos", key_file=fleet.key_file, known_hosts=fleet.known_hosts,
        connect_timeout=opts.connect_timeout, command_timeout=opts.command_timeout,
        keepalive_interval=10.0, max_concurrency=opts.max_concurrency,
        max_output_bytes=1 << 20,
    )  # fmt: skip


async def connect_all(client: VyosClient, fleet: Fleet) -> list[int]:
    """Observe until every router answers; the routers that failed in each round.

    Connect timeouts in the first round are expected with a big known_hosts file (see
    docs/performance.md); the backoff is reset so a retry round starts at once.
    """
    failures: list[int] = []
    for _ in range(WARMUP_ROUNDS):
        views = await asyncio.gather(*(client.observe(e) for e in fleet.endpoints))
        failed = [v for v in views if v.error is not None]
        failures.append(len(failed))
        if not failed:
            check_views(views)
            return failures
        for endpoint in fleet.endpoints:
            client.reset_backoff(endpoint)
    raise BenchmarkError(
        f"{failures[-1]} routers still failing after {WARMUP_ROUNDS} warm-up rounds; "
        f"first error: {failed[0].router}: {failed[0].error}"
    )


async def poll_with_vpnwatch(fleet: Fleet, opts: Options) -> PollerResult:
    base_rss = rss_mb()
    client = VyosClient(ssh_settings(fleet, opts))
    warmup_failures: list[int] = []

    async def warm_up() -> None:
        warmup_failures.extend(await connect_all(client, fleet))

    async def cycle() -> None:
        check_views(await asyncio.gather(*(client.observe(e) for e in fleet.endpoints)))

    try:
        connect = await measured(fleet, warm_up)
        profiler = cProfile.Profile() if opts.profile else None
        cycles: list[Cost] = []
        for _ in range(opts.cycles):
            with profiled(profiler):
                cycles.append(await measured(fleet, cycle))
        if profiler is not None and opts.profile is not None:
            profiler.dump_stats(opts.profile)
        return PollerResult(
            connect, tuple(warmup_failures), tuple(cycles), base_rss,
            rss_mb(), peak_rss_mb(), rss_mb(fleet.pid),
            cpus(), cpus(fleet.pid),
        )  # fmt: skip
    finally:
        await client.close()


@contextlib.contextmanager
def profiled(profiler: cProfile.Profile | None) -> Iterator[None]:
    if profiler is None:
        yield
        return
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()


# ---------------------------------------------------------------- the naive poller


@dataclass(frozen=True)
class NaiveCredentials:
    """Read once per cycle, so the naive poller does not pay for re-parsing the files.

    `known_hosts` as a path makes asyncssh read and parse the whole file on every connect
    (as vpnwatch's own connect path does): `--naive-rereads-known-hosts`.
    """

    client_key: asyncssh.SSHKey
    known_hosts: asyncssh.SSHKnownHosts | str

    @classmethod
    def load(cls, fleet: Fleet, reread_known_hosts: bool) -> NaiveCredentials:
        path = str(fleet.known_hosts)
        known_hosts = path if reread_known_hosts else asyncssh.read_known_hosts(path)
        return cls(asyncssh.read_private_key(fleet.key_file), known_hosts)


async def naive_poll_router(
    endpoint: RouterEndpoint, creds: NaiveCredentials, seconds_per_command: float
) -> None:
    """A connection per command, as a simple script would do it."""
    outputs: list[str] = []
    try:
        for command in NAIVE_COMMANDS:
            async with asyncio.timeout(seconds_per_command), asyncssh.connect(
                endpoint.host, endpoint.port, username="vyos", client_keys=[creds.client_key],
                known_hosts=creds.known_hosts, config=None, agent_path=None,
            ) as conn:  # fmt: skip
                result = await conn.run(f"{OP_WRAPPER} {command}", check=True)
            outputs.append(str(result.stdout))
        bgp_text, ike_text, ipsec_text = outputs
        counts = up_counts(
            parse_bgp_summary(bgp_text), parse_ike_sa(ike_text), parse_ipsec_sa(ipsec_text)
        )
    except (asyncssh.Error, OSError, TimeoutError, ParseError) as exc:
        raise BenchmarkError(
            f"naive poller, {endpoint.name}: {type(exc).__name__}: {exc}"
        ) from None
    check_answer(endpoint.name, counts)


async def poll_naively(fleet: Fleet, opts: Options) -> NaiveResult:
    sample = fleet.endpoints[: opts.naive_sample]
    seconds_per_command = opts.connect_timeout + opts.command_timeout

    async def cycle() -> None:
        creds = NaiveCredentials.load(fleet, opts.naive_rereads_known_hosts)
        for endpoint in sample:
            await naive_poll_router(endpoint, creds, seconds_per_command)

    return NaiveResult(len(sample), await measured(fleet, cycle))


# ---------------------------------------------------------------- report


def report(opts: Options, poller: PollerResult, naive: NaiveResult) -> dict[str, float | int]:
    cycle = statistics.median(c.wall for c in poller.cycles)
    naive_seconds = naive.extrapolated(opts.routers)
    n = opts.routers
    print(f"routers: {n} (VyOS {opts.vyos_version}, {TUNNELS_PER_ROUTER} tunnels each)")
    print(f"CPUs allowed: poller {list(poller.poller_cpus)}, fleet {list(poller.fleet_cpus)}")
    rounds = poller.warmup_failures
    print(
        f"vpnwatch warm-up (connects): {len(rounds)} round(s), routers failing per round "
        f"{list(rounds)}: {poller.connect.describe()}"
    )
    for number, cost in enumerate(poller.cycles, start=1):
        print(f"vpnwatch cycle {number}/{len(poller.cycles)}: {cost.describe()}")
    print(f"vpnwatch cycle (median of {len(poller.cycles)}): {cycle:.3f} s")
    print(
        f"poller RSS after the cycles: {poller.rss_mb:.1f} MiB (peak {poller.peak_rss_mb:.1f}, "
        f"{poller.base_rss_mb:.1f} before the client); fleet process: {poller.fleet_rss_mb:.1f} MiB"
    )
    how = "all routers" if naive.sample == n else f"{naive.sample} routers, extrapolated to {n}"
    if opts.naive_rereads_known_hosts:
        how += ", known_hosts re-read per connect"
    print(f"naive poller ({how}): {naive.cost.describe()} -> {naive_seconds:.3f} s per cycle")
    ratio = naive_seconds / cycle
    print(f"ratio naive / vpnwatch: {ratio:.1f}x")
    return {
        "routers": n,
        "cycle_seconds": round(cycle, 6),
        "naive_cycle_seconds": round(naive_seconds, 4),
        "ratio": round(ratio, 2),
        "rss_mb": round(poller.rss_mb, 1),
    }


# ---------------------------------------------------------------- main


async def measure(fleet: Fleet, opts: Options) -> tuple[PollerResult, NaiveResult]:
    async with asyncio.timeout(opts.deadline):
        poller = await poll_with_vpnwatch(fleet, opts)
        naive = await poll_naively(fleet, opts)
    return poller, naive


def run(opts: Options) -> dict[str, float | int]:
    pin(opts.poller_cpus)
    with tempfile.TemporaryDirectory(prefix="vpnwatch-bench-") as tmp:
        folder = Path(tmp)
        proc = start_fleet(folder, opts.routers, opts.vyos_version, opts.fleet_cpus)
        try:
            fleet = wait_until_ready(proc, folder, timeout=60 + 0.1 * opts.routers)
            poller, naive = asyncio.run(measure(fleet, opts))
        finally:
            stop_fleet(proc)
    return report(opts, poller, naive)


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def parse_args(argv: Sequence[str]) -> Options:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--routers", type=positive, default=200, help="fleet size (default 200)")
    p.add_argument("--cycles", type=positive, default=3, help="timed cycles (default 3)")
    p.add_argument(
        "--naive-sample", type=positive, default=50,
        help="routers the naive poller polls, extrapolated to the fleet (default 50)",
    )  # fmt: skip
    p.add_argument("--max-concurrency", type=positive, default=256)
    p.add_argument("--connect-timeout", type=float, default=2.0, help="vpnwatch's default")
    p.add_argument("--command-timeout", type=float, default=2.5, help="vpnwatch's default")
    # Not vyos_sim.VERSIONS: importing the lab here would add to the poller's RSS.
    p.add_argument("--vyos-version", choices=("1.1", "1.3", "1.4"), default="1.4")
    p.add_argument("--poller-cpus", help="pin this process to these CPUs, e.g. 0")
    p.add_argument("--fleet-cpus", help="pin the router process to these CPUs, e.g. 1")
    p.add_argument("--deadline", type=float, default=900.0, help="seconds for all polling")
    p.add_argument("--profile", type=Path, help="write cProfile stats of the timed cycles")
    p.add_argument(
        "--naive-rereads-known-hosts", action="store_true",
        help="the naive poller passes known_hosts as a path (parsed again on every connect)",
    )  # fmt: skip
    a = p.parse_args(argv)
    return Options(
        a.routers, a.cycles, min(a.naive_sample, a.routers), a.max_concurrency,
        a.connect_timeout, a.command_timeout, a.vyos_version, a.poller_cpus, a.fleet_cpus,
        a.deadline, a.profile, a.naive_rereads_known_hosts,
    )  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    # Warm-up connect failures are counted in the report; only errors go to stderr.
    configure_logging(fmt="json", level="error")
    try:
        result = run(opts)
    except BenchmarkError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    except TimeoutError:
        print(f"benchmark failed: polling took longer than {opts.deadline:g}s", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; the router fleet was stopped", file=sys.stderr)
        return 130
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
