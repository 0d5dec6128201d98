"""One simulated router without the SSH part: configs, files, faults and the dataplane.

Thread-safe: the emulated AWS asks for tunnel state from its own threads.
"""

from __future__ import annotations

import ipaddress
import posixpath
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Literal

from vpnwatch.lab.vyos_sim.formats import Version
from vpnwatch.lab.vyos_sim.negotiation import negotiable
from vpnwatch.lab.vyos_sim.runtime import Conditions, Timings, TunnelRuntime, TunnelSpec
from vpnwatch.lab.vyos_sim.tree import ConfigPathError, ConfigTree, parse_boot_text
from vpnwatch.lab.vyos_sim.view import (
    GroupConf,
    NeighborConf,
    PeerConf,
    advertised_prefixes,
    config_view,
    route_map_permits,
)

BOOT_CONFIG = "/config/config.boot"
HOME = "/home/vyos"
_FOOTER = {
    "1.1": (
        "/* Warning: Do not remove the following line. */\n/* === vyatta-config-version: "
        '"cluster@1:config-management@1:conntrack-sync@1:conntrack@1:cron@1:dhcp-relay@1:'
        "dhcp-server@4:firewall@5:ipsec@4:nat@4:qos@1:quagga@2:system@6:vrrp@1:"
        'wanloadbalance@3:webgui@1:webproxy@1:zone-policy@1" === */\n'
        "/* Release version: 1.1.8 */\n"
    ),
    "1.3": (
        "// Warning: Do not remove the following line.\n// vyos-config-version: "
        '"broadcast-relay@1:cluster@1:config-management@1:conntrack@3:conntrack-sync@2:'
        "dhcp-relay@2:dhcp-server@5:interfaces@22:ipsec@5:nat@5:ntp@1:quagga@8:ssh@2:"
        'system@21:vrrp@2:wanloadbalance@3"\n// Release version: 1.3.8\n'
    ),
    "1.4": (
        "// Warning: Do not remove the following line.\n// vyos-config-version: "
        '"bgp@5:broadcast-relay@1:cluster@2:config-management@1:conntrack@5:'
        'interfaces@32:ipsec@13:nat@7:ntp@3:policy@8:quagga@11:ssh@2:system@27:vrrp@4"\n'
        "// Release version: 1.4.3\n"
    ),
    # A 1.5-stream-2025-Q2 config.boot footer, as published (docs/render.md).
    "1.5": (
        "// Warning: Do not remove the following line.\n// vyos-config-version: "
        '"bgp@6:broadcast-relay@1:cluster@2:config-management@1:conntrack@6:'
        'interfaces@33:ipsec@13:nat@8:ntp@3:policy@8:quagga@11:ssh@2:system@29:vrrp@4"\n'
        "// Release version: 1.5-stream-2025-Q2\n"
    ),
}


class Fault(StrEnum):
    CRASH = "crash"  # listener closed, connections dropped, dataplane down
    HANG = "hang"  # SSH accepts, commands never answer; the dataplane keeps running
    BGP_DOWN = "bgp-down"  # sessions not Established (Active), no prefixes
    IPSEC_DOWN = "ipsec-down"  # no SAs; BGP follows when its hold timer expires
    GARBAGE = "garbage"  # every command prints random text that is no known format
    SLOW = "slow"  # every command answers after a delay
    # The failures a soft fix cures: a session stuck after a peer's restart until
    # `reset ip bgp`; IKEv1 SAs not re-initiated after an AWS endpoint change until
    # `restart vpn` (aws-facts: the customer side must re-initiate).
    BGP_STUCK = "bgp-stuck"
    IPSEC_STUCK = "ipsec-stuck"
    # Hostile answers (issue 9): `show configuration` nested 10,000 levels deep; `show vpn ike
    # sa` starting with a `secret <the router's PSK>` line. Everything else answers normally.
    DEEP_CONFIG = "deep-config"
    SECRET_OUTPUT = "secret-output"


@dataclass(frozen=True)
class NeighborStatus:
    address: str
    remote_as: int | None
    state: str
    since: float | None  # Established since, else time of the last change (None → never)
    last_established: float | None
    received: tuple[str, ...]  # prefixes accepted by the import policy (Established only)
    prefixes_sent: int
    msg_rcvd: int
    msg_sent: int
    established_count: int
    dropped_count: int
    description: str | None


@dataclass(frozen=True)
class SaStatus:
    peer: PeerConf
    state: Literal["up", "connecting", "none"]  # none: no IKE SA at all (IPsec faulted)
    since: float | None
    ike: GroupConf | None
    esp: GroupConf | None


@dataclass(frozen=True)
class AwsTunnelView:
    """What AWS's VgwTelemetry would say about the tunnel with this router's outside IP."""

    status: Literal["UP", "DOWN"]
    accepted_route_count: int
    status_message: str


def _as_int(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdigit() else None


class RouterCore:
    def __init__(
        self,
        *,
        name: str,
        version: Version,
        local_as: int,
        private_ip: str,
        tunnels: Sequence[TunnelSpec],
        clock: Callable[[], float],
        timings: Timings,
        fs_root: Path,
        initial: ConfigTree,
    ) -> None:
        self.name, self.version, self.local_as = name, version, local_as
        self.private_ip, self.clock, self.timings = private_ip, clock, timings
        self.tunnels = tuple(tunnels)
        self.fs_root = fs_root
        self._lock = threading.RLock()
        self.alive = False
        self.booted_at = clock()
        self.faults: set[Fault] = set()
        self.running = ConfigTree(version)
        self.view = config_view(self.running)
        self._rt = {t.outside_ip: TunnelRuntime(t) for t in self.tunnels}
        for folder in ("config", "home/vyos"):
            (fs_root / folder).mkdir(parents=True, exist_ok=True)
        self.write_file(BOOT_CONFIG, self.boot_text(initial))

    # ---------------------------------------------------------------- files

    def local_path(self, path: str) -> Path:
        """The host path of a router path (relative paths start in /home/vyos)."""
        full = posixpath.normpath(posixpath.join(HOME, path))
        return self.fs_root / full.lstrip("/")

    def read_file(self, path: str) -> str:
        return self.local_path(path).read_text(encoding="utf-8")

    def write_file(self, path: str, text: str) -> None:
        target = self.local_path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        target.chmod(0o660)

    def boot_text(self, tree: ConfigTree) -> str:
        return tree.boot_text() + _FOOTER[self.version]

    def saved_tree(self) -> ConfigTree:
        tree = ConfigTree(self.version)
        for words in parse_boot_text(self.read_file(BOOT_CONFIG)):
            tree.set(words)
        return tree

    # ---------------------------------------------------------------- lifecycle and config

    def now(self) -> float:
        return self.clock()

    def boot(self) -> None:
        """Power on: load the saved config; SAs and sessions negotiate from now."""
        with self._lock:
            try:
                tree = self.saved_tree()
            except (OSError, ConfigPathError):
                tree = ConfigTree(self.version)  # a broken config.boot boots empty
            self.alive, self.booted_at = True, self.clock()
            self._install(tree)

    def power_off(self) -> None:
        with self._lock:
            now = self.clock()
            self.alive = False
            for rt in self._rt.values():
                rt.power_off(now, self.timings)

    def commit(self, tree: ConfigTree) -> None:
        with self._lock:
            self._install(tree.copy())

    def _install(self, tree: ConfigTree) -> None:
        self.running = tree
        self.view = config_view(tree)
        self._reconcile()

    def save(self, path: str = BOOT_CONFIG) -> None:
        with self._lock:
            self.write_file(path, self.boot_text(self.running))

    def set_fault(self, fault: Fault) -> None:
        with self._lock:
            self.faults.add(fault)
            self._reconcile()

    def clear_fault(self, fault: Fault) -> None:
        with self._lock:
            self.faults.discard(fault)
            self._reconcile()

    def _reconcile(self) -> None:
        now = self.clock()
        for rt in self._rt.values():
            rt.apply(now, self._conditions(rt.spec), self.timings)

    def _peer_works(self, peer: PeerConf, spec: TunnelSpec) -> bool:
        """IKE and ESP come up only when what the router holds matches AWS's side of the
        tunnel: the key, a proposal AWS permits, a local address it can send from."""
        view = self.view
        ike = view.ike_groups.get(peer.ike_group or "")
        esp = view.esp_groups.get(peer.esp_group or "")
        return (
            peer.auth_mode == "pre-shared-secret"
            and peer.psk == spec.psk
            and negotiable(ike, esp, spec.crypto)
            and peer.local_address in (self.private_ip, "any", "0.0.0.0")
            and (peer.vti_bind or "") in view.vti_addresses
        )

    def _conditions(self, spec: TunnelSpec) -> Conditions:
        if not self.alive:
            return Conditions()
        view = self.view
        peer = view.peer_for(spec.outside_ip)
        ipsec_ok = (
            Fault.IPSEC_DOWN not in self.faults
            and Fault.IPSEC_STUCK not in self.faults
            and peer is not None
            and self._peer_works(peer, spec)
        )
        neighbor = view.neighbor(spec.aws_inside_ip)
        if neighbor is None:
            return Conditions(ipsec_ok=ipsec_ok)
        length = ipaddress.ip_network(spec.inside_cidr).prefixlen
        vti_ok = peer is not None and f"{spec.router_inside_ip}/{length}" in view.vti_addresses.get(
            peer.vti_bind or "", ()
        )
        bgp_ok = (
            Fault.BGP_DOWN not in self.faults
            and Fault.BGP_STUCK not in self.faults
            and not neighbor.shutdown
            and vti_ok
            and neighbor.remote_as == str(spec.remote_as)
            and view.local_as == self.local_as
        )
        blocked = "Idle (Admin)" if neighbor.shutdown else "Active"
        return Conditions(ipsec_ok, bgp_ok, blocked, neighbor.holdtime)

    def update_tunnel(self, spec: TunnelSpec) -> bool:
        """AWS changed its side of a tunnel (ModifyVpnTunnelOptions): the endpoint is
        replaced, so the SA renegotiates, and only comes back if the router still matches."""
        with self._lock:
            rt = self._rt.get(spec.outside_ip)
            if rt is None:
                return False
            rt.reset_sa(self.clock(), self.timings)
            rt.spec = spec
            self.tunnels = tuple(
                spec if t.outside_ip == spec.outside_ip else t for t in self.tunnels
            )
            self._reconcile()
            return True

    # ---------------------------------------------------------------- op-mode actions

    def _advance(self) -> float:
        now = self.clock()
        for rt in self._rt.values():
            rt.advance(now, self.timings)
        return now

    def reset_bgp(self, neighbor: str) -> bool:
        """`reset ip bgp <neighbor|all>`; False when no such neighbor is configured."""
        with self._lock:
            now = self.clock()
            known = {n.address for n in self.view.neighbors}
            if neighbor not in ("all", "*") and neighbor not in known:
                return False
            if Fault.BGP_STUCK in self.faults:  # the reset is what unsticks it
                self.faults.discard(Fault.BGP_STUCK)
                self._reconcile()
            for rt in self._rt.values():
                if neighbor in ("all", "*", rt.spec.aws_inside_ip):
                    rt.reset_bgp(now, self.timings)
            return True

    def reset_sas(self, peer: str | None = None) -> bool:
        """`restart vpn` (None) or `reset vpn ipsec-peer <address|name>`."""
        with self._lock:
            now = self.clock()
            chosen = [
                p for p in self.view.peers if peer is None or peer in (p.name, p.remote_address)
            ]
            if peer is not None and not chosen:
                return False
            if Fault.IPSEC_STUCK in self.faults:  # re-initiating is what brings it back
                self.faults.discard(Fault.IPSEC_STUCK)
                self._reconcile()
            for p in chosen:
                rt = self._rt.get(p.remote_address or "")
                if rt is not None:
                    rt.reset_sa(now, self.timings)
            return True

    # ---------------------------------------------------------------- reading

    def neighbor_statuses(self) -> tuple[float, list[NeighborStatus]]:
        with self._lock:
            now = self._advance()
            by_neighbor = {rt.spec.aws_inside_ip: rt for rt in self._rt.values()}
            return now, [
                self._neighbor_status(n, by_neighbor.get(n.address), now)
                for n in self.view.neighbors
            ]

    def _neighbor_status(
        self, n: NeighborConf, rt: TunnelRuntime | None, now: float
    ) -> NeighborStatus:
        remote_as = _as_int(n.remote_as)
        if rt is None:  # not an AWS tunnel endpoint: nobody answers
            state = "Idle (Admin)" if n.shutdown else "Active"
            return NeighborStatus(
                n.address, remote_as, state, None, None, (), 0, 0, 0, 0, 0, n.description
            )
        received: tuple[str, ...] = ()
        sent = keepalives = 0
        if rt.bgp_since is not None:
            received = tuple(
                p for p in rt.spec.prefixes if route_map_permits(self.view, n.import_map, p)
            )
            sent = len(advertised_prefixes(self.view, n))
            keepalives = int((now - rt.bgp_since) // n.keepalive)
        history = 4 * rt.established_count
        return NeighborStatus(
            address=n.address,
            remote_as=remote_as,
            state=rt.bgp_state(now, self.timings),
            since=rt.bgp_since if rt.bgp_since is not None else rt.last_change,
            last_established=rt.last_established,
            received=received,
            prefixes_sent=sent,
            msg_rcvd=history + keepalives + len(received),
            msg_sent=history + keepalives + sent,
            established_count=rt.established_count,
            dropped_count=rt.dropped_count,
            description=n.description,
        )

    def sa_statuses(self) -> tuple[float, list[SaStatus]]:
        """Every configured peer: "up"; "connecting" (charon keeps retrying an IKE SA that
        does not come up); "none" while IPsec is faulted down (no SA at all)."""
        with self._lock:
            now = self._advance()
            result = []
            for peer in self.view.peers:
                rt = self._rt.get(peer.remote_address or "")
                since = rt.sa_since if rt is not None else None
                state: Literal["up", "connecting", "none"] = "up"
                if since is None:
                    down = {Fault.IPSEC_DOWN, Fault.IPSEC_STUCK} & self.faults
                    state = "none" if down else "connecting"
                result.append(
                    SaStatus(
                        peer,
                        state,
                        since,
                        self.view.ike_groups.get(peer.ike_group or ""),
                        self.view.esp_groups.get(peer.esp_group or ""),
                    )
                )
            return now, result

    def tunnel_up(self, outside_ip: str) -> bool:
        """The IPsec SA to that AWS endpoint is established (the tunnel's dataplane)."""
        with self._lock:
            self._advance()
            rt = self._rt.get(outside_ip)
            return rt is not None and rt.sa_up

    def bgp_up(self, outside_ip: str) -> bool:
        with self._lock:
            self._advance()
            rt = self._rt.get(outside_ip)
            return rt is not None and rt.bgp_up

    def accepted_routes(self, outside_ip: str) -> int:
        """Routes AWS accepts from this router on that tunnel: what it advertises there."""
        with self._lock:
            self._advance()
            rt = self._rt.get(outside_ip)
            neighbor = self.view.neighbor(rt.spec.aws_inside_ip) if rt is not None else None
            if rt is None or neighbor is None or not rt.bgp_up:
                return 0
            return len(advertised_prefixes(self.view, neighbor))

    def aws_view(self, outside_ip: str) -> AwsTunnelView:
        """AWS's view: a BGP tunnel is UP only with IPsec up *and* BGP established."""
        with self._lock:
            if not self.tunnel_up(outside_ip):
                return AwsTunnelView("DOWN", 0, "IPSEC IS DOWN")
            if not self.bgp_up(outside_ip):
                return AwsTunnelView("DOWN", 0, "IPSEC IS UP")
            routes = self.accepted_routes(outside_ip)
            return AwsTunnelView("UP", routes, f"{routes} BGP ROUTES")
