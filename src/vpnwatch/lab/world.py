"""LabWorld: the whole emulated world in one object — the emulated AWS, the article's topology
in it, one simulated VyOS router per topology router (on one event loop the world owns, in
its own thread), and the daemon config pointing at all of it.

Instances behave as in EC2 with a stock VyOS AMI, by default (`realism`, see
`vpnwatch.lab.realism`; a test opts out by name): a terminated router goes down at once and
its private IP is released `release_delay` seconds later; a launched instance is pending,
then boots after `boot_delay` as its AMI's VyOS with a fresh host key, only its key pair's
and user data's logins and its user data applied, on the same SSH port; its console shows
no host keys, and without Latest only `console_delay` seconds late. With `iam_policy`, the
daemon's credentials (`daemon_environ()`) are limited to that IAM policy.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from vpnwatch.lab.aws_world import EmulatedAws
from vpnwatch.lab.ec2_lifecycle import InstanceLifecycle, PendingRelease
from vpnwatch.lab.iam_gate import IamGate
from vpnwatch.lab.labconfig import (
    DEFAULT_HEALTH_INTERVAL,
    DEFAULT_METRICS_LISTEN,
    HealSettings,
    SshSettings,
    render_config,
    write_config,
)
from vpnwatch.lab.lock_table import DEFAULT_TABLE, create_lock_table, lock_section, table_items
from vpnwatch.lab.loop_thread import LoopThread
from vpnwatch.lab.realism import Realism
from vpnwatch.lab.router_plans import (
    VersionChoice,
    plan_routers,
    router_of_connection,
    versions_for,
)
from vpnwatch.lab.runtime import RuntimeRecord, remove_record, write_record
from vpnwatch.lab.safety import DEFAULT_REGION, LabError
from vpnwatch.lab.ssh_files import ClientKey, new_client_key, write_known_hosts
from vpnwatch.lab.topology import ARTICLE_SITES, SiteSpec, Topology, build_topology
from vpnwatch.lab.tunnel_maintenance import EndpointReplaced
from vpnwatch.lab.tunnel_modify import Modified
from vpnwatch.lab.vyos_sim import SimulatedRouter, Timings
from vpnwatch.lab.world_routers import WorldRouters
from vpnwatch.lab.world_routes import install_world_routes, world_state

CONFIG_NAME = "vpnwatch.yaml"


class LabWorld:
    """Owns the emulated AWS and what lives in it. `start()` builds it, `stop()` tears it down.

    `publish_runtime=True` writes the runtime record other processes find it by
    (`vpnwatch.lab.runtime`); `vpnwatch lab serve` does that. `routers=False` leaves the
    simulated routers out (AWS only; the config then has ssh disabled); `blank_routers=True`
    boots them with the AMI's configuration only (nothing of the article: tunnels down).
    """

    def __init__(
        self,
        state_dir: Path,
        *,
        config_path: Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        region: str = DEFAULT_REGION,
        sites: tuple[SiteSpec, ...] = ARTICLE_SITES,
        metrics_listen: str = DEFAULT_METRICS_LISTEN,
        health_interval: float = DEFAULT_HEALTH_INTERVAL,
        detection_delay: float = 3.0,
        publish_runtime: bool = False,
        runtime_dir: Path | None = None,
        wall_clock: Callable[[], datetime] | None = None,
        monotonic: Callable[[], float] | None = None,
        routers: bool = True,
        router_version: VersionChoice = "1.4",
        router_timings: Timings | None = None,
        release_delay: float = 3.0,
        boot_delay: float = 1.0,
        console_delay: float = 1.0,
        heal_dry_run: bool = True,
        heal_strategy: str = "same-ip",
        realism: Realism | None = None,
        iam_policy: Path | None = None,
        blank_routers: bool = False,
        lock: str = "none",
        lease_seconds: float = 15.0,
    ) -> None:
        for name, value in (
            ("release_delay", release_delay),
            ("boot_delay", boot_delay),
            ("console_delay", console_delay),
        ):
            if value < 0:
                raise LabError(f"{name} must not be negative")
        if heal_strategy not in ("same-ip", "eni"):
            raise LabError(f"heal_strategy must be same-ip or eni, not {heal_strategy!r}")
        if lock not in ("none", "dynamodb"):
            raise LabError(f"lock must be none or dynamodb, not {lock!r}")
        self.lock = lock  # dynamodb: the table is created and the config gets a lock section
        self.lease_seconds = lease_seconds
        self.state_dir = Path(state_dir)
        self.config_path = Path(config_path) if config_path else self.state_dir / CONFIG_NAME
        self.region = region
        self.sites = sites
        self.metrics_listen = metrics_listen
        self.health_interval = health_interval
        self.publish_runtime = publish_runtime
        self.runtime_dir = runtime_dir
        self.with_routers = routers
        self.blank_routers = blank_routers  # routers boot with the AMI's config only
        self.router_version = router_version
        self.router_timings = router_timings
        self.boot_delay = boot_delay
        self.console_delay = console_delay
        self.heal = HealSettings(dry_run=heal_dry_run, strategy=heal_strategy)
        extra: dict[str, Any] = {}  # injected clocks (tests); the defaults are the real ones
        if wall_clock is not None:
            extra["wall_clock"] = wall_clock
        if monotonic is not None:
            extra["monotonic"] = monotonic
        self._monotonic = monotonic or time.monotonic
        self.aws = EmulatedAws(host, port, region=region, detection_delay=detection_delay, **extra)
        self.realism = realism or Realism()
        self.lifecycle = InstanceLifecycle(
            self.aws, None, release_delay=release_delay, monotonic=self._monotonic,
            realism=self.realism,
        )  # fmt: skip
        self.iam = IamGate(Path(iam_policy), region) if iam_policy is not None else None
        self.aws.set_request_gate(self.iam)
        self.lifecycle.install()  # before the topology: its instances get AWS's defaults too
        self.loop = LoopThread("vpnwatch-lab-routers")
        self._lock = threading.Lock()
        self._topology: Topology | None = None
        self._routers: WorldRouters | None = None
        self._client_key: ClientKey | None = None
        self._runtime_file: Path | None = None
        install_world_routes(self)
        self.aws.add_tunnel_listener(self._tunnel_modified)
        self.aws.maintenance.add_listener(self._endpoint_replaced)

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Start the emulated AWS, build the topology, boot the routers, write the config."""
        with self._lock:
            if self._topology is not None:
                return
            self.state_dir.mkdir(parents=True, exist_ok=True)
            self.lifecycle.clear()
            endpoint = self.aws.start()
            try:
                names = [name for site in self.sites for name, _ in site.routers]
                topology = build_topology(
                    endpoint, region=self.region, sites=self.sites,
                    versions=versions_for(names, self.router_version),
                )  # fmt: skip
                self.lifecycle.arm()  # launches from now on are pending, then running
                self._topology = topology
                if self.lock == "dynamodb":
                    create_lock_table(endpoint, self.region, DEFAULT_TABLE)
                if self.with_routers:
                    self._start_routers(topology)
                self.write_config()
                if self.publish_runtime:
                    self._runtime_file = write_record(self._record(), self.runtime_dir)
            except BaseException:
                self._teardown()
                raise

    def _start_routers(self, topology: Topology) -> None:
        self.loop.start()
        self._client_key = new_client_key(self.state_dir / "ssh")
        routers = WorldRouters(
            self.loop,
            plan_routers(topology, self.sites, self.router_version),
            self._client_key.public_line,
            monotonic=self._monotonic,
            timings=self.router_timings,
            boot_delay=self.boot_delay,
            console_delay=self.console_delay,
            key_pair_keys={r.name: topology.site(r.site).key_public for r in topology.routers},
        )
        self._routers = routers  # set first: stop() must find what started
        instances = {r.name: (r.instance_id, r.eni_id) for r in topology.routers}
        routers.start(instances, blank=self.blank_routers)
        if not self.blank_routers and not routers.wait_established():
            raise LabError("the simulated routers did not establish BGP in time")
        write_known_hosts(self.known_hosts_file, routers.host_keys())
        owners = router_of_connection(topology)
        self.lifecycle.routers = routers
        self.aws.set_telemetry_source(
            lambda ref: routers.telemetry(ref, owners.get(ref.vpn_connection_id))
        )

    def _tunnel_modified(self, change: Modified) -> None:
        """ModifyVpnTunnelOptions changed AWS's side of a tunnel: tell the router facing it."""
        routers, topology = self._routers, self._topology
        if routers is None or topology is None:
            return
        owner = router_of_connection(topology).get(change.vpn_connection_id)
        if owner is not None and change.replaced:
            routers.update_tunnel(owner, change.tunnel)

    def _endpoint_replaced(self, event: EndpointReplaced) -> None:
        """AWS replaced a tunnel endpoint (maintenance): the router facing it loses the SA."""
        routers, topology = self._routers, self._topology
        if routers is None or topology is None:
            return
        owner = router_of_connection(topology).get(event.vpn_connection_id)
        if owner is not None:
            routers.endpoint_replaced(owner, event.outside_ip, event.down_for, event.aws_initiates)

    def stop(self) -> None:
        """Withdraw the runtime record, stop the AWS, the routers and the loop. Safe twice."""
        with self._lock:
            self._teardown()

    def _teardown(self) -> None:
        if self._runtime_file is not None:
            remove_record(self._runtime_file)
            self._runtime_file = None
        self.aws.stop()  # first: no request may reach the routers while they stop
        self.aws.set_telemetry_source(None)
        self.lifecycle.routers = None
        try:
            if self._routers is not None and self.loop.running:
                self._routers.stop()
        finally:
            self._routers = None
            self.loop.stop()
            self._topology = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------ views

    @property
    def topology(self) -> Topology:
        if self._topology is None:
            raise LabError("the lab world is not running")
        return self._topology

    @property
    def endpoint_url(self) -> str:
        return self.aws.endpoint_url

    @property
    def runtime_file(self) -> Path | None:
        return self._runtime_file

    @property
    def routers(self) -> WorldRouters:
        if self._routers is None:
            raise LabError("the lab world has no simulated routers running")
        return self._routers

    @property
    def has_routers(self) -> bool:
        return self._routers is not None

    @property
    def client_key_file(self) -> Path:
        return self.state_dir / "ssh" / "id_ed25519"

    @property
    def known_hosts_file(self) -> Path:
        return self.state_dir / "ssh" / "known_hosts"

    @property
    def ssh_settings(self) -> SshSettings | None:
        """How the daemon reaches the routers (None without routers)."""
        if self._routers is None:
            return None
        return SshSettings(self.client_key_file, self.known_hosts_file, self._routers.endpoints())

    def write_config(self, ssh: SshSettings | None = None) -> Path:
        """(Re)write the daemon config; `ssh` defaults to the world's routers (if any), and each
        router's instance is the one it runs on now."""
        config = render_config(
            self.topology,
            self.endpoint_url,
            state_dir=self.state_dir,
            metrics_listen=self.metrics_listen,
            health_interval=self.health_interval,
            ssh=ssh or self.ssh_settings,
            heal=self.heal,
            instance_ids=self._routers.instances() if self._routers is not None else None,
            lock=self.lock_section,
        )
        return write_config(config, self.config_path)

    @property
    def lock_section(self) -> dict[str, Any] | None:
        if self.lock != "dynamodb":
            return None
        return lock_section(DEFAULT_TABLE, self.region, self.lease_seconds)

    def lock_items(self, partition: str) -> list[dict[str, Any]]:
        """The pair's DynamoDB items of one partition: "lease", "state" or "audit"."""
        return table_items(self.endpoint_url, self.region, DEFAULT_TABLE, partition)

    def ready_line(self) -> str:
        topo = self.topology
        simulated = len(self._routers.names) if self._routers is not None else 0
        return (
            f"vpnwatch lab: ready endpoint={self.endpoint_url} config={self.config_path} "
            f"routers={len(topo.routers)} vpn_connections={len(topo.connections)} "
            f"tunnels={len(topo.tunnels)} simulated_routers={simulated}"
        )

    def state(self) -> dict[str, Any]:
        """The world's truth: instances and VPN connections as AWS has them, plus the lab's own
        facts (endpoint, config, the routers and what their simulations say)."""
        return world_state(self)

    # ------------------------------------------------------------ routers

    def simulated_router(self, name: str) -> SimulatedRouter | None:
        """The live simulated router `name` (None while its instance is gone or booting).
        Call its async methods on the world's loop: `world.loop.run(router.reboot())`."""
        return self.routers.simulated(name)

    def router_instance(self, name: str) -> str:
        """The instance id router `name` runs on now."""
        return self.routers.instance_of(name)

    def router_endpoint(self, name: str) -> tuple[str, int]:
        return self.routers.endpoints()[name]

    def set_router_fault(self, name: str, kind: str, *, delay: float | None = None) -> Any:
        """crash, hang, bgp-down, ipsec-down, bgp-stuck (until `reset ip bgp`), ipsec-stuck
        (until `restart vpn`), garbage, slow (`delay`: seconds per command), deep-config or
        secret-output (hostile answers, see vyos_sim/hostile.py)."""
        return self.routers.set_fault(name, kind, delay)

    def clear_router_fault(self, name: str, kind: str | None = None) -> Any:
        """Clear one fault (None: all); clearing a crash boots the saved config."""
        return self.routers.clear_fault(name, kind)

    def fault(
        self, name: str, kind: str, *, clear: bool = False, delay: float | None = None
    ) -> Any:
        """As `vpnwatch lab fault NAME KIND [--clear] [--delay S]` ("all" clears every fault)."""
        if clear:
            return self.clear_router_fault(name, None if kind == "all" else kind)
        return self.set_router_fault(name, kind, delay=delay)

    def tamper_next_console(self, name: str) -> None:
        """The next relaunch of `name` prints another host key in its console output than the
        one it presents (the "host key mismatch → restore refused" scenario)."""
        self.routers.tamper_next_console(name)

    def impair(self, name: str) -> str:
        """Router `name`'s host breaks: down, status checks failing, until stop and start."""
        return self.routers.impair(name)

    def doom_next_launch(
        self, name: str, code: str = "Server.InternalError", message: str = "Internal error"
    ) -> None:
        """The next instance launched for `name` dies in pending with that StateReason."""
        self.routers.doom_next_launch(name, code, message)

    def daemon_environ(self) -> dict[str, str]:
        """The daemon's AWS credentials: the IAM principal with `iam_policy`, else dummies."""
        if self.iam is not None:
            return self.iam.principal.environ()
        return {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}

    def wait_router(self, name: str, timeout: float = 30.0, *, established: bool = False) -> bool:
        """Wait until router `name` runs (and, if asked, has BGP Established on all tunnels)."""
        pause = threading.Event()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            view = self.routers.view(name)
            up = view["state"] == "running" and view["alive"] and view["ssh"] is not None
            if up and (not established or set(view["bgp"].values()) == {"Established"}):
                return True
            pause.wait(0.05)
        return False

    def pending_releases(self) -> list[PendingRelease]:
        """Terminated instances' addresses AWS has not released yet."""
        return self.lifecycle.pending()

    def _record(self) -> RuntimeRecord:
        topo = self.topology
        return RuntimeRecord(
            pid=os.getpid(),
            endpoint_url=self.endpoint_url,
            config_path=str(self.config_path.resolve()),
            state_dir=str(self.state_dir.resolve()),
            region=self.region,
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
            routers=len(topo.routers),
            vpn_connections=len(topo.connections),
            tunnels=len(topo.tunnels),
        )
