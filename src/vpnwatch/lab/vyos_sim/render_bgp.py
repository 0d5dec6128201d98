"""`show ip bgp summary` as Quagga 0.99 (VyOS 1.1), FRR 7.5 (1.3) and FRR 9/10 (1.4, 1.5) print it,
and FRR's `show ip bgp summary json`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vpnwatch.lab.vyos_sim.core import NeighborStatus
from vpnwatch.lab.vyos_sim.formats import Version, frr_uptime, ip_key, memstr, since_1_4

# Bytes per RIB entry and per peer, as the real daemons report them.
_RIB_ENTRY = {"1.1": 96, "1.3": 192, "1.4": 192, "1.5": 192}
_PEER = {"1.1": 4480, "1.3": 21504, "1.4": 741464, "1.5": 741464}
_QUAGGA_HEADER = "Neighbor        V    AS MsgRcvd MsgSent   TblVer  InQ OutQ Up/Down  State/PfxRcd"
_FRR_HEADER = (
    "Neighbor        V         AS   MsgRcvd   MsgSent   TblVer  InQ OutQ  Up/Down "
    "State/PfxRcd   PfxSnt"
)


@dataclass(frozen=True)
class BgpFacts:
    router_id: str
    local_as: int
    neighbors: Sequence[NeighborStatus]
    originated: int  # prefixes this router originates (network + route present)
    now: float

    def sorted_neighbors(self) -> list[NeighborStatus]:
        return sorted(self.neighbors, key=lambda n: ip_key(n.address))

    @property
    def rib_entries(self) -> int:
        received = {p for n in self.neighbors for p in n.received}
        return self.originated + len(received)

    @property
    def table_version(self) -> int:
        return self.rib_entries + sum(n.established_count for n in self.neighbors)


def _up_down(n: NeighborStatus, now: float, *, quagga: bool) -> str:
    if n.since is None:
        return "never   " if quagga else "never"
    return frr_uptime(now - n.since)


def _neighbor_cell(address: str) -> str:
    """16 columns; a longer name gets a line of its own (Quagga and FRR alike)."""
    return address.ljust(16) if len(address) < 16 else address + "\n" + " " * 16


def _quagga_row(n: NeighborStatus, now: float) -> str:
    row = _neighbor_cell(n.address) + "4 "
    row += f"{n.remote_as or 0:5d} {n.msg_rcvd:7d} {n.msg_sent:7d} {0:8d} {0:4d} {0:4d} "
    row += f"{_up_down(n, now, quagga=True):>8s}"
    if n.state == "Established":
        return row + f" {len(n.received):8d}"
    if n.state.startswith("Idle ("):
        return row + f" {n.state}"
    return row + f" {n.state:<11s}"


def _frr_row(n: NeighborStatus, now: float, version: Version) -> str:
    row = _neighbor_cell(n.address) + "4 "
    row += f"{n.remote_as or 0:10d} {n.msg_rcvd:9d} {n.msg_sent:9d} {0:8d} {0:4d} {0:4d} "
    row += f"{_up_down(n, now, quagga=False):>8s}"
    if n.state == "Established":
        row += f" {len(n.received):12d} {n.prefixes_sent:8d}"
    else:
        row += f" {n.state}" if n.state.startswith("Idle (") else f" {n.state:>12s}"
        if since_1_4(version):
            row += f" {0:8d}"
    if since_1_4(version):
        row += f" {(n.description or 'N/A')[:20]}"
    return row


def bgp_summary_text(version: Version, facts: BgpFacts | None) -> str:
    """The text; `facts` None means no BGP instance is configured."""
    if facts is None:
        return "" if version == "1.1" else "% BGP instance not found\n"
    neighbors = facts.sorted_neighbors()
    if not neighbors:
        return {
            "1.1": "No IPv4 neighbor is configured\n",
            "1.3": "No IPv4 Unicast neighbor is configured\n",
            "1.4": "% No BGP neighbors found in VRF default\n",
            "1.5": "% No BGP neighbors found in VRF default\n",
        }[version]
    rib, peers = facts.rib_entries, len(neighbors)
    lines = []
    if version == "1.1":
        lines += [
            f"BGP router identifier {facts.router_id}, local AS number {facts.local_as}",
            "IPv4 Unicast - max multipaths: ebgp 1 ibgp 1",
        ]
    else:
        title = (
            "IPv4 Unicast Summary:" if version == "1.3" else "IPv4 Unicast Summary (VRF default):"
        )
        lines += [
            title,
            f"BGP router identifier {facts.router_id}, local AS number {facts.local_as} vrf-id 0",
            f"BGP table version {facts.table_version}",
        ]
    lines += [
        f"RIB entries {rib}, using {memstr(rib * _RIB_ENTRY[version])} of memory",
        f"Peers {peers}, using {memstr(peers * _PEER[version])} of memory",
        "",
    ]
    if version == "1.1":
        lines.append(_QUAGGA_HEADER)
        lines += [_quagga_row(n, facts.now) for n in neighbors]
    else:
        lines.append(_FRR_HEADER + (" Desc" if since_1_4(version) else ""))
        lines += [_frr_row(n, facts.now, version) for n in neighbors]
    lines += ["", f"Total number of neighbors {peers}"]
    return "\n".join(lines) + "\n"


def _json_peer(n: NeighborStatus, facts: BgpFacts, version: Version) -> dict[str, Any]:
    peer: dict[str, Any] = {"remoteAs": n.remote_as or 0}
    if since_1_4(version):
        peer["localAs"] = facts.local_as
    peer.update(version=4, msgRcvd=n.msg_rcvd, msgSent=n.msg_sent, tableVersion=0, outq=0, inq=0)
    if n.since is None:
        peer.update(peerUptime="never", peerUptimeMsec=0)
    else:
        seconds = int(facts.now - n.since)
        peer.update(peerUptime=frr_uptime(seconds), peerUptimeMsec=seconds * 1000)
    if n.last_established is not None:
        peer["peerUptimeEstablishedEpoch"] = int(n.last_established)
    peer.update(pfxRcd=len(n.received), pfxSnt=n.prefixes_sent, state=n.state)
    if since_1_4(version):
        peer["peerState"] = "Admin" if n.state == "Idle (Admin)" else "OK"
    peer.update(connectionsEstablished=n.established_count, connectionsDropped=n.dropped_count)
    if since_1_4(version) and n.description:
        peer["desc"] = n.description
    peer["idType"] = "ipv4"
    return peer


def bgp_summary_json(version: Version, facts: BgpFacts | None) -> str:
    """FRR's JSON (json-c pretty print: two-space indent, no space after colons)."""
    if facts is None or not facts.neighbors:
        return "{\n}\n"
    neighbors = facts.sorted_neighbors()
    failed = sum(n.state != "Established" for n in neighbors)
    body: dict[str, Any] = {
        "routerId": facts.router_id,
        "as": facts.local_as,
        "vrfId": 0,
        "vrfName": "default",
        "tableVersion": facts.table_version,
        "ribCount": facts.rib_entries,
        "ribMemory": facts.rib_entries * _RIB_ENTRY[version],
        "peerCount": len(neighbors),
        "peerMemory": len(neighbors) * _PEER[version],
        "peers": {n.address: _json_peer(n, facts, version) for n in neighbors},
        "failedPeers": failed,
    }
    if since_1_4(version):
        body["displayedPeers"] = len(neighbors)
    body.update(totalPeers=len(neighbors), dynamicPeers=0, bestPath={"multiPathRelax": "false"})
    return json.dumps({"ipv4Unicast": body}, indent=2, separators=(",", ":")) + "\n"
