"""Commit-time verification: the cross-node checks VyOS runs before it applies a config.

Value syntax is checked earlier, at `set`/`merge` time, as on a real router.
"""

from __future__ import annotations

from dataclasses import dataclass

from vpnwatch.lab.vyos_sim.formats import Version, since_1_4
from vpnwatch.lab.vyos_sim.tree import ConfigTree
from vpnwatch.lab.vyos_sim.view import ConfigView, GroupConf, PeerConf, config_view


@dataclass(frozen=True)
class CommitProblem:
    section: str  # the daemon/section that refused, e.g. "protocols bgp"
    path: str  # the node it is about
    message: str


def _bgp_problems(view: ConfigView, tree: ConfigTree) -> list[CommitProblem]:
    problems: list[CommitProblem] = []
    if not view.bgp_configured:
        return problems
    base = "protocols bgp" if since_1_4(tree.version) else f"protocols bgp {view.local_as}"
    if since_1_4(tree.version) and view.local_as is None:
        problems.append(
            CommitProblem("protocols bgp", "protocols bgp", "BGP system-as number must be defined!")
        )
    for n in view.neighbors:
        path = f"{base} neighbor {n.address}"
        if n.remote_as is None:
            problems.append(
                CommitProblem(
                    "protocols bgp", path, f'Neighbor "{n.address}" remote-as must be set!'
                )
            )
        if tree.version == "1.1":
            continue
        for direction, name in (("import", n.import_map), ("export", n.export_map)):
            if name is not None and name not in view.route_maps:
                problems.append(
                    CommitProblem(
                        "protocols bgp",
                        path,
                        f'Route-map "{name}" used for "{direction}" does not exist!',
                    )
                )
    return problems


def _policy_problems(view: ConfigView, version: Version) -> list[CommitProblem]:
    problems = []
    for name, rules in view.prefix_lists.items():
        for rule in rules:
            path = f"policy prefix-list {name} rule {rule.number}"
            if rule.action is None:
                problems.append(CommitProblem("policy", path, "Action must be specified!"))
            if rule.prefix is None:
                problems.append(CommitProblem("policy", path, "A prefix must be specified!"))
    for name, rules in view.route_maps.items():
        for rule in rules:
            path = f"policy route-map {name} rule {rule.number}"
            if rule.action is None:
                problems.append(CommitProblem("policy", path, "Action must be specified!"))
            plist = rule.match_prefix_list
            if version != "1.1" and plist is not None and plist not in view.prefix_lists:
                problems.append(
                    CommitProblem("policy", path, f'prefix-list "{plist}" does not exist!')
                )
    return problems


def _group_problems(kind: str, groups: dict[str, GroupConf]) -> list[CommitProblem]:
    problems = []
    for name, group in groups.items():
        if not group.proposals:
            problems.append(
                CommitProblem(
                    "vpn ipsec",
                    f"vpn ipsec {kind} {name}",
                    f'{kind} "{name}" requires at least one proposal!',
                )
            )
        for number, proposal in enumerate(group.proposals, start=1):
            if proposal.encryption is None or proposal.hash is None:
                problems.append(
                    CommitProblem(
                        "vpn ipsec",
                        f"vpn ipsec {kind} {name} proposal",
                        f'Proposal {number} of {kind} "{name}" requires encryption and hash!',
                    )
                )
    return problems


def _peer_problems(view: ConfigView, peer: PeerConf, version: Version) -> list[str]:
    problems = []
    if since_1_4(version) and peer.remote_address is None:
        problems.append(f'Peer "{peer.name}" requires remote-address!')
    if peer.ike_group is None:
        problems.append(f'No ike-group specified for peer "{peer.name}"!')
    elif peer.ike_group not in view.ike_groups:
        problems.append(f'Invalid ike-group "{peer.ike_group}" referenced by peer "{peer.name}"!')
    if peer.auth_mode is None:
        problems.append(f'No authentication mode specified for peer "{peer.name}"!')
    elif peer.auth_mode == "pre-shared-secret" and peer.psk is None:
        problems.append(f'No pre-shared secret found for peer "{peer.name}"!')
    if peer.local_address is None:
        problems.append(f'No local-address specified for peer "{peer.name}"!')
    if peer.vti_bind is not None:
        if peer.vti_bind not in view.vti_addresses:
            problems.append(
                f'VTI interface {peer.vti_bind} for site-to-site peer "{peer.name}" does not exist!'
            )
        if peer.esp_group is None:
            problems.append(f'No esp-group specified for the VTI of peer "{peer.name}"!')
        elif peer.esp_group not in view.esp_groups:
            problems.append(
                f'Invalid esp-group "{peer.esp_group}" referenced by peer "{peer.name}"!'
            )
    return problems


def _psk_problems(tree: ConfigTree) -> list[CommitProblem]:
    """1.4+: every `authentication psk` entry needs ids and a secret (vpn_ipsec.py verify)."""
    problems = []
    base = ("vpn", "ipsec", "authentication", "psk")
    for name in tree.root.keys(*base):
        entry = tree.root.get(*base, name)
        if entry is not None and (not entry.values_at("id") or entry.value("secret") is None):
            problems.append(
                CommitProblem(
                    "vpn ipsec",
                    f"vpn ipsec authentication psk {name}",
                    f'Authentication psk "{name}" missing "id" or "secret"',
                )
            )
    return problems


def commit_problems(tree: ConfigTree) -> list[CommitProblem]:
    view = config_view(tree)
    problems = _bgp_problems(view, tree) + _policy_problems(view, tree.version)
    problems += _group_problems("ike-group", view.ike_groups)
    problems += _group_problems("esp-group", view.esp_groups)
    if since_1_4(tree.version):
        problems += _psk_problems(tree)
    for peer in view.peers:
        path = f"vpn ipsec site-to-site peer {peer.name}"
        problems += [
            CommitProblem("vpn ipsec", path, m) for m in _peer_problems(view, peer, tree.version)
        ]
    return problems


def commit_failure_text(problems: list[CommitProblem], version: Version) -> str:
    """What `commit` prints when it refuses (ends with "Commit failed")."""
    lines: list[str] = []
    if version == "1.1":
        for p in problems:
            lines += [f"[ {p.path} ]", p.message, ""]
    else:
        sections: list[str] = []
        for p in problems:
            lines += ["", p.message]
            if p.section not in sections:
                sections.append(p.section)
        lines.append("")
        lines += [f"[[{s}]] failed" for s in sections]
    lines.append("Commit failed")
    return "\n".join(lines) + "\n"
