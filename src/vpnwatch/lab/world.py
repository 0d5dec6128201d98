"""LabWorld: the whole emulated world in one object — the emulated AWS, the article's topology
in it, the daemon config pointing at it, and (later) the simulated VyOS routers."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from vpnwatch.lab.aws_world import EmulatedAws
from vpnwatch.lab.control import ControlRequest
from vpnwatch.lab.labconfig import (
    DEFAULT_HEALTH_INTERVAL,
    DEFAULT_METRICS_LISTEN,
    SshSettings,
    render_config,
    write_config,
)
from vpnwatch.lab.runtime import RuntimeRecord, remove_record, write_record
from vpnwatch.lab.safety import DEFAULT_REGION, LabError
from vpnwatch.lab.topology import ARTICLE_SITES, SiteSpec, Topology, build_topology

CONFIG_NAME = "vpnwatch.yaml"


class LabWorld:
    """Owns the emulated AWS and what lives in it. `start()` builds it, `stop()` tears it down.

    `publish_runtime=True` writes the runtime record other processes find it by
    (`vpnwatch.lab.runtime`); `vpnwatch lab serve` does that.
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
    ) -> None:
        self.state_dir = Path(state_dir)
        self.config_path = Path(config_path) if config_path else self.state_dir / CONFIG_NAME
        self.region = region
        self.sites = sites
        self.metrics_listen = metrics_listen
        self.health_interval = health_interval
        self.publish_runtime = publish_runtime
        self.runtime_dir = runtime_dir
        extra: dict[str, Any] = {}  # injected clocks (tests); the defaults are the real ones
        if wall_clock is not None:
            extra["wall_clock"] = wall_clock
        if monotonic is not None:
            extra["monotonic"] = monotonic
        self.aws = EmulatedAws(host, port, region=region, detection_delay=detection_delay, **extra)
        self._lock = threading.Lock()
        self._topology: Topology | None = None
        self._runtime_file: Path | None = None
        self.aws.add_control_route("GET", "/_lab/state", self._state_route)

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Start the emulated AWS, build the topology, write the config (and runtime record)."""
        with self._lock:
            if self._topology is not None:
                return
            self.state_dir.mkdir(parents=True, exist_ok=True)
            endpoint = self.aws.start()
            try:
                topology = build_topology(endpoint, region=self.region, sites=self.sites)
                self._topology = topology
                self.write_config()
                if self.publish_runtime:
                    self._runtime_file = write_record(self._record(), self.runtime_dir)
            except BaseException:
                self._topology = None
                self.aws.stop()
                raise

    def stop(self) -> None:
        """Withdraw the runtime record and stop the emulated AWS. Safe to call twice."""
        with self._lock:
            if self._runtime_file is not None:
                remove_record(self._runtime_file)
                self._runtime_file = None
            self.aws.stop()
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

    def write_config(self, ssh: SshSettings | None = None) -> Path:
        """(Re)write the daemon config; give `ssh` once simulated routers listen."""
        config = render_config(
            self.topology,
            self.endpoint_url,
            state_dir=self.state_dir,
            metrics_listen=self.metrics_listen,
            health_interval=self.health_interval,
            ssh=ssh,
        )
        return write_config(config, self.config_path)

    def ready_line(self) -> str:
        topo = self.topology
        return (
            f"vpnwatch lab: ready endpoint={self.endpoint_url} config={self.config_path} "
            f"routers={len(topo.routers)} vpn_connections={len(topo.connections)} "
            f"tunnels={len(topo.tunnels)}"
        )

    def state(self) -> dict[str, Any]:
        """The world's truth: instances and VPN connections as AWS has them, plus the lab's own
        facts (endpoint, config, the routers the topology was built with)."""
        truth = self.aws.state()
        topo = self._topology
        truth["config_path"] = str(self.config_path)
        truth["routers"] = (
            [
                {
                    "name": r.name,
                    "site": r.site,
                    "role": r.role,
                    "public_ip": r.public_ip,
                    "customer_gateway_id": r.customer_gateway_id,
                }
                for r in topo.routers
            ]
            if topo
            else []
        )
        return truth

    def _state_route(self, _: ControlRequest) -> Any:
        return self.state()

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
