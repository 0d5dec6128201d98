"""The vpnwatch config (YAML, /work/briefs/config-schema.md) that points the daemon at a lab world.

Timeouts are tight because everything is on loopback and the health interval is short; they
respect the config's rule that every retry of one call fits in one poll interval.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from vpnwatch.lab.tags import MANAGED_TAG

if TYPE_CHECKING:
    from vpnwatch.lab.topology import Topology

DEFAULT_METRICS_LISTEN = "127.0.0.1:9810"
DEFAULT_HEALTH_INTERVAL = 2.0
# A lab replacement takes seconds, not minutes: fail fast when something is off.
LAB_HEAL_TIMEOUTS = {
    "terminate": 60.0, "launch": 60.0, "ssh": 60.0, "console": 60.0, "verify": 60.0, "poll": 0.5,
    "running": 60.0, "api": 60.0, "restore": 60.0,
}  # fmt: skip
# The heals' own AWS client, scaled down like everything else on loopback.
LAB_HEAL_AWS = {
    "connect_timeout": 1.0, "read_timeout": 5.0, "max_attempts": 4, "retry_backoff": 0.2,
    "retry_max_backoff": 1.0,
}  # fmt: skip


@dataclass(frozen=True)
class SshSettings:
    """How the daemon reaches the simulated routers (router name → (host, port))."""

    key_file: Path
    known_hosts: Path
    endpoints: Mapping[str, tuple[str, int]] = field(default_factory=dict)
    user: str = "vyos"


@dataclass(frozen=True)
class HealSettings:
    """The daemon's `heal:` section. Live healing (dry_run False) is opt-in, as in the product."""

    dry_run: bool = True
    strategy: str = "same-ip"  # or "eni"
    timeouts: Mapping[str, float] = field(default_factory=lambda: dict(LAB_HEAL_TIMEOUTS))


def _vpn_intent(site: Any, topology: Topology) -> dict[str, Any]:
    """The site's `vpn` keys: its VPC; a hub advertises the article's class A (10.0.0.0/8)
    when it covers every site, else the smallest network that does."""
    intent: dict[str, Any] = {"vpc_cidr": site.cidr}
    if site.role == "hub":
        nets = [ipaddress.IPv4Network(s.cidr) for s in topology.sites]
        aggregate = ipaddress.IPv4Network("10.0.0.0/8")
        if not all(n.subnet_of(aggregate) for n in nets):
            aggregate = nets[0]
            while not all(n.subnet_of(aggregate) for n in nets):
                aggregate = aggregate.supernet()
        intent["aggregate"] = str(aggregate)
    return intent


def render_config(
    topology: Topology,
    endpoint_url: str,
    *,
    state_dir: Path,
    metrics_listen: str = DEFAULT_METRICS_LISTEN,
    health_interval: float = DEFAULT_HEALTH_INTERVAL,
    ssh: SshSettings | None = None,
    heal: HealSettings | None = None,
    instance_ids: Mapping[str, str] | None = None,
    lock: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The config as a mapping; ssh is disabled until simulated routers are given.
    `instance_ids` (router → instance) overrides the topology's, e.g. after a replacement.
    `lock`: the `lock:` section of an active/standby pair; its backups then go to a
    directory both daemons share (as two hosts would share S3)."""
    heal = heal or HealSettings()
    sites = []
    for site in topology.sites:
        routers = []
        for router in (r for r in topology.routers if r.site == site.name):
            instance = (instance_ids or {}).get(router.name, router.instance_id)
            entry: dict[str, Any] = {"name": router.name, "instance_id": instance}
            if ssh is not None and router.name in ssh.endpoints:
                entry["ssh_host"], entry["ssh_port"] = ssh.endpoints[router.name]
            routers.append(entry)
        sites.append(
            {
                "name": site.name,
                "role": site.role,
                "expect": {"min_prefixes": 1},
                "routers": routers,
                "vpn": _vpn_intent(site, topology),
            }
        )
    ssh_dir = state_dir / "ssh"
    return {
        "aws": {
            "region": topology.region,
            "endpoint_url": endpoint_url,
            "connect_timeout": 0.25,
            "read_timeout": 0.6,
            "max_attempts": 2,
            "max_concurrency": 8,
        },
        "managed_tag": {"key": MANAGED_TAG[0], "value": MANAGED_TAG[1]},
        "ssh": {
            "enabled": ssh is not None,
            "user": ssh.user if ssh else "vyos",
            "key_file": str(ssh.key_file if ssh else ssh_dir / "id_ed25519"),
            "known_hosts": str(ssh.known_hosts if ssh else ssh_dir / "known_hosts"),
            "port": 22,
            "connect_timeout": 0.8,
            "command_timeout": 1.0,
            "keepalive_interval": 10.0,
            "max_concurrency": 64,
        },
        "sites": sites,
        "health": {"interval": health_interval, "failures": 3, "min_failed_seconds": 6.0},
        "heal": {
            "enabled": True,
            "dry_run": heal.dry_run,
            "strategy": heal.strategy,
            "timeouts": dict(heal.timeouts),
            "aws": dict(LAB_HEAL_AWS),
        },
        "backup": {"enabled": ssh is not None, "store": "dir"}
        | ({"directory": str(state_dir / "shared-backups")} if lock else {}),
        "metrics": {"listen": metrics_listen},
        "logging": {"format": "auto", "level": "info"},
        "state_dir": str(state_dir / "daemon"),
    } | ({"lock": dict(lock)} if lock else {})


def write_config(config: Mapping[str, Any], path: Path) -> Path:
    """Write the YAML atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "# Written by `vpnwatch lab`: the daemon's view of the emulated world.\n"
    text += yaml.safe_dump(dict(config), sort_keys=False, default_flow_style=False)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path
