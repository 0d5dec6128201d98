"""Simulated VyOS routers: asyncssh servers answering as VyOS 1.1, 1.3 or 1.4.

Each router has its own port and ed25519 host key on 127.0.0.1, accepts the lab's client
key for user `vyos`, answers op-mode commands through vyatta-op-cmd-wrapper, `vtysh -c` and
`vbash -s` config scripts, has an SFTP filesystem, a config tree with commit/save/merge
semantics, a dataplane model (IPsec SAs, BGP sessions per AWS tunnel) and fault switches.
"""

from vpnwatch.lab.vyos_sim.article import (
    Role,
    article_config_commands,
    base_config_commands,
    host_name,
    peer_name,
)
from vpnwatch.lab.vyos_sim.core import AwsTunnelView, Fault
from vpnwatch.lab.vyos_sim.fleet import RouterFleet
from vpnwatch.lab.vyos_sim.formats import VERSIONS, Version
from vpnwatch.lab.vyos_sim.runtime import Timings, TunnelSpec
from vpnwatch.lab.vyos_sim.server import SimulatedRouter

__all__ = [
    "VERSIONS",
    "AwsTunnelView",
    "Fault",
    "Role",
    "RouterFleet",
    "SimulatedRouter",
    "Timings",
    "TunnelSpec",
    "Version",
    "article_config_commands",
    "base_config_commands",
    "host_name",
    "peer_name",
]
