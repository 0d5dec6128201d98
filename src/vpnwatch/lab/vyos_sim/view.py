"""What a configuration means to the router's daemons: BGP, IPsec, routes and policies.

Version differences live here: the BGP instance moved from `protocols bgp <asn>` to
`protocols bgp system-as` (1.4), per-neighbor policies moved under
`address-family ipv4-unicast` (1.3), IPsec peers got names plus `remote-address` and the
pre-shared keys moved to `vpn ipsec authentication psk` (1.4).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from vpnwatch.lab.vyos_sim.formats import Version, since_1_4
from vpnwatch.lab.vyos_sim.tree import CfgNode, ConfigTree


@dataclass(frozen=True)
class NeighborConf:
    address: str
    remote_as: str | None
    holdtime: int
    keepalive: int
    import_map: str | None
    export_map: str | None
    shutdown: bool
    description: str | None


@dataclass(frozen=True)
class PeerConf:
    name: str  # the tag: the peer address up to 1.3, any name from 1.4
    remote_address: str | None
    psk: str | None
    auth_mode: str | None
    local_address: str | None
    ike_group: str | None
    esp_group: str | None
    vti_bind: str | None
    description: str | None


@dataclass(frozen=True)
class ProposalConf:
    encryption: str | None
    hash: str | None
    dh_group: str | None


@dataclass(frozen=True)
class GroupConf:
    lifetime: int
    proposals: tuple[ProposalConf, ...]
    key_exchange: str | None = None
    pfs: str | None = None


@dataclass(frozen=True)
class PolicyRule:
    number: int
    action: str | None
    prefix: str | None = None  # prefix-list rules
    ge: int | None = None
    le: int | None = None
    match_prefix_list: str | None = None  # route-map rules


@dataclass(frozen=True)
class ConfigView:
    local_as: int | None
    bgp_configured: bool
    router_id: str | None
    neighbors: tuple[NeighborConf, ...]
    networks: tuple[str, ...]
    peers: tuple[PeerConf, ...]
    vti_addresses: dict[str, tuple[str, ...]]
    static_routes: frozenset[str]
    prefix_lists: dict[str, tuple[PolicyRule, ...]]
    route_maps: dict[str, tuple[PolicyRule, ...]]
    ike_groups: dict[str, GroupConf]
    esp_groups: dict[str, GroupConf]

    def neighbor(self, address: str) -> NeighborConf | None:
        return next((n for n in self.neighbors if n.address == address), None)

    def peer_for(self, outside_ip: str) -> PeerConf | None:
        return next((p for p in self.peers if p.remote_address == outside_ip), None)


def _int(text: str | None, default: int) -> int:
    return int(text) if text is not None and text.isdigit() else default


def _bgp_root(tree: ConfigTree) -> tuple[CfgNode | None, int | None]:
    bgp = tree.root.get("protocols", "bgp")
    if bgp is None:
        return None, None
    if since_1_4(tree.version):
        asn = bgp.value("system-as")
        return bgp, int(asn) if asn is not None else None
    asns = list(bgp.children)
    if not asns:
        return None, None
    return bgp.children[asns[0]], int(asns[0])


def _neighbors(bgp: CfgNode, version: Version) -> tuple[NeighborConf, ...]:
    af = () if version == "1.1" else ("address-family", "ipv4-unicast")
    result = []
    for address in bgp.keys("neighbor"):
        node = bgp.get("neighbor", address)
        assert node is not None
        result.append(
            NeighborConf(
                address=address,
                remote_as=node.value("remote-as"),
                holdtime=_int(node.value("timers", "holdtime"), 180),
                keepalive=_int(node.value("timers", "keepalive"), 60),
                import_map=node.value(*af, "route-map", "import"),
                export_map=node.value(*af, "route-map", "export"),
                shutdown=node.get("shutdown") is not None,
                description=node.value("description"),
            )
        )
    return tuple(result)


def _psk_1_4(tree: ConfigTree, peer: CfgNode) -> str | None:
    """The `authentication psk` secret strongSwan would pick for this peer: the entry whose
    ids match the remote end (address or remote-id) and, better still, the local end too."""
    remote = {peer.value("remote-address"), peer.value("authentication", "remote-id")}
    local = {peer.value("local-address"), peer.value("authentication", "local-id")}
    remote -= {None, "%any", "any"}
    local -= {None, "%any", "any"}
    best: tuple[int, str | None] = (0, None)
    for name in tree.root.keys("vpn", "ipsec", "authentication", "psk"):
        entry = tree.root.get("vpn", "ipsec", "authentication", "psk", name)
        if entry is None:
            continue
        ids = set(entry.values_at("id"))
        score = 2 * bool(remote & ids) + bool(local & ids)
        if score > best[0]:
            best = (score, entry.value("secret"))
    return best[1]


def _peers(tree: ConfigTree) -> tuple[PeerConf, ...]:
    result = []
    for name in tree.root.keys("vpn", "ipsec", "site-to-site", "peer"):
        node = tree.root.get("vpn", "ipsec", "site-to-site", "peer", name)
        assert node is not None
        if since_1_4(tree.version):
            remote, psk = node.value("remote-address"), _psk_1_4(tree, node)
            esp = node.value("vti", "esp-group") or node.value("default-esp-group")
        else:
            remote, psk = name, node.value("authentication", "pre-shared-secret")
            esp = node.value("vti", "esp-group")
        result.append(
            PeerConf(
                name=name,
                remote_address=remote,
                psk=psk,
                auth_mode=node.value("authentication", "mode"),
                local_address=node.value("local-address"),
                ike_group=node.value("ike-group"),
                esp_group=esp,
                vti_bind=node.value("vti", "bind"),
                description=node.value("description"),
            )
        )
    return tuple(result)


def _groups(tree: ConfigTree, kind: str, default_life: int) -> dict[str, GroupConf]:
    groups = {}
    for name in tree.root.keys("vpn", "ipsec", kind):
        node = tree.root.get("vpn", "ipsec", kind, name)
        assert node is not None
        proposals = tuple(
            ProposalConf(
                node.value("proposal", n, "encryption"),
                node.value("proposal", n, "hash"),
                node.value("proposal", n, "dh-group"),
            )
            for n in node.keys("proposal")
        )
        groups[name] = GroupConf(
            _int(node.value("lifetime"), default_life),
            proposals,
            node.value("key-exchange"),
            node.value("pfs"),
        )
    return groups


def _rules(tree: ConfigTree, kind: str) -> dict[str, tuple[PolicyRule, ...]]:
    result = {}
    for name in tree.root.keys("policy", kind):
        node = tree.root.get("policy", kind, name)
        assert node is not None
        rules = []
        for number in node.keys("rule"):
            rule = node.get("rule", number)
            assert rule is not None
            ge, le = rule.value("ge"), rule.value("le")
            rules.append(
                PolicyRule(
                    int(number),
                    rule.value("action"),
                    rule.value("prefix"),
                    int(ge) if ge else None,
                    int(le) if le else None,
                    rule.value("match", "ip", "address", "prefix-list"),
                )
            )
        result[name] = tuple(rules)
    return result


def config_view(tree: ConfigTree) -> ConfigView:
    bgp, asn = _bgp_root(tree)
    af = () if tree.version == "1.1" else ("address-family", "ipv4-unicast")
    vti_root = tree.root.get("interfaces", "vti")
    vtis = (
        {}
        if vti_root is None
        else {
            name: tuple(entry.values_at("address"))
            for name, entry in vti_root.children.items()
            if entry.get("disable") is None
        }
    )
    return ConfigView(
        local_as=asn,
        bgp_configured=bgp is not None,
        router_id=bgp.value("parameters", "router-id") if bgp is not None else None,
        neighbors=_neighbors(bgp, tree.version) if bgp is not None else (),
        networks=tuple(bgp.keys(*af, "network")) if bgp is not None else (),
        peers=_peers(tree),
        vti_addresses=vtis,
        static_routes=frozenset(tree.root.keys("protocols", "static", "route")),
        prefix_lists=_rules(tree, "prefix-list"),
        route_maps=_rules(tree, "route-map"),
        ike_groups=_groups(tree, "ike-group", 28800),
        esp_groups=_groups(tree, "esp-group", 3600),
    )


def _prefix_list_permits(rules: tuple[PolicyRule, ...], prefix: str) -> bool:
    net = ipaddress.IPv4Network(prefix)
    for rule in rules:
        if rule.prefix is None:
            continue
        base = ipaddress.IPv4Network(rule.prefix)
        low = rule.ge if rule.ge is not None else base.prefixlen
        high = rule.le if rule.le is not None else (32 if rule.ge is not None else base.prefixlen)
        if net.subnet_of(base) and low <= net.prefixlen <= high:
            return rule.action == "permit"
    return False  # implicit deny


def route_map_permits(view: ConfigView, name: str | None, prefix: str) -> bool:
    """FRR semantics: no route-map → permit; an unknown route-map or no match → deny."""
    if name is None:
        return True
    rules = view.route_maps.get(name)
    if rules is None:
        return False
    for rule in rules:
        if rule.match_prefix_list is not None:
            plist = view.prefix_lists.get(rule.match_prefix_list)
            if plist is None or not _prefix_list_permits(plist, prefix):
                continue
        return rule.action == "permit"
    return False


def advertised_prefixes(view: ConfigView, neighbor: NeighborConf) -> tuple[str, ...]:
    """Networks BGP originates (a matching route must exist) that the export policy lets out."""
    return tuple(
        n
        for n in view.networks
        if n in view.static_routes and route_map_permits(view, neighbor.export_map, n)
    )
