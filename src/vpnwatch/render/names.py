"""The running configuration's own names made into the rendered ones, by meaning (pure).

A router configured by hand names things its own way (peer `AWS-1`, `vti1`, IKE group
`AWS-IKE`, PSK entry `tunnel-a`). Those names say nothing AWS cares about, so before the
running and rendered configurations are compared, each running name is replaced by the
rendered name of the same thing:

- a site-to-site peer by its remote address (the tunnel's AWS outside IP);
- a pre-shared key entry by the remote id it covers;
- a VTI by its inside address, else by the interface the matched peer binds;
- an IKE/ESP group by the group the matched peer uses;
- a route-map by the BGP neighbour that imports/exports it, a prefix-list by the
  matched route-map rule that matches it.

Only one-to-one matches rename: a name two things could claim, or a rename onto a name the
router already uses for something else, is left alone (and differs as it did before).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence

from vpnwatch.parsers.vyos_config import Statement

Path = tuple[str, ...]
Renames = dict[str, dict[str, str]]  # kind → running name → rendered name

_PEER, _PSK = ("vpn", "ipsec", "site-to-site", "peer"), ("vpn", "ipsec", "authentication", "psk")
# Where each kind's names are defined: the path prefix and the index of the name.
_DEFINED: dict[str, tuple[Path, int]] = {
    "peer": (_PEER, 4),
    "psk": (_PSK, 4),
    "vti": (("interfaces", "vti"), 2),
    "ike": (("vpn", "ipsec", "ike-group"), 3),
    "esp": (("vpn", "ipsec", "esp-group"), 3),
    "route-map": (("policy", "route-map"), 2),
    "prefix-list": (("policy", "prefix-list"), 2),
}


def _name(kind: str, path: Path) -> str | None:
    prefix, index = _DEFINED[kind]
    return path[index] if len(path) > index and path[:index] == prefix else None


def _reference(path: Path) -> str | None:
    """The kind of name a leaf's value refers to (None: an ordinary value)."""
    if path[:4] == _PEER:
        if path[-2:] == ("vti", "bind"):
            return "vti"
        if path[-1] == "ike-group":
            return "ike"
        if path[-1] in ("esp-group", "default-esp-group"):
            return "esp"
    if path[:2] == ("protocols", "bgp") and path[-2:-1] == ("route-map",):
        return "route-map"
    if path[:2] == ("policy", "route-map") and path[-2:] == ("address", "prefix-list"):
        return "prefix-list"
    return None


def _leaves(statements: Iterable[Statement], kind: str, leaf: Path) -> dict[str, set[str]]:
    """Per name of `kind`, the values of its `leaf` (e.g. a peer's remote-address)."""
    found: dict[str, set[str]] = defaultdict(set)
    for path, value in statements:
        name, index = _name(kind, path), _DEFINED[kind][1]
        if name is not None and path[index + 1 :] == leaf and value is not None:
            found[name].add(value)
    return found


def _names(statements: Iterable[Statement], kind: str) -> set[str]:
    return {n for path, _ in statements if (n := _name(kind, path)) is not None}


def one_to_one(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The pairs whose running and rendered names each appear in no other pair."""
    distinct = set(pairs)
    running: dict[str, int] = defaultdict(int)
    rendered: dict[str, int] = defaultdict(int)
    for have, want in distinct:
        running[have] += 1
        rendered[want] += 1
    return {h: w for h, w in distinct if running[h] == 1 and rendered[w] == 1}


def _without_collisions(renames: dict[str, str], taken: set[str]) -> dict[str, str]:
    """Drop renames onto a name the router keeps for something else (until none is left)."""
    renames = dict(renames)
    while True:
        kept = taken - renames.keys()
        clash = [h for h, w in renames.items() if w != h and w in kept]
        if not clash:
            return renames
        for have in clash:
            del renames[have]


def _match_by_values(
    have: Mapping[str, set[str]], want: Mapping[str, set[str]]
) -> list[tuple[str, str]]:
    """Pairs of names that share a value (e.g. a remote address)."""
    owners: dict[str, set[str]] = defaultdict(set)
    for name, values in want.items():
        for value in values:
            owners[value].add(name)
    return [(h, w) for h, values in have.items() for v in values for w in owners.get(v, ())]


Owner = Callable[[Path], tuple[str, Path] | None]


def _match_by_reference(
    have: Sequence[Statement], want: Sequence[Statement], owner: Owner, kind: str
) -> list[tuple[str, str]]:
    """Pairs of `kind` names referred to at the same place: `owner` says where a running
    leaf is in rendered terms (the rendered side's places are taken as they are)."""
    wanted = {}
    for path, value in want:
        place = _place(path) if _reference(path) == kind else None
        if place is not None and value is not None:
            wanted[place] = value
    pairs = []
    for path, value in have:
        place = owner(path) if _reference(path) == kind else None
        if place is not None and value is not None and place in wanted:
            pairs.append((value, wanted[place]))
    return pairs


def _place(path: Path) -> tuple[str, Path] | None:
    """Where a rendered leaf is: its peer, BGP neighbour or route-map, and the rest."""
    return _bgp_owner(path) or _peer_owner({})(path) or _rule_owner({})(path)


def _peer_owner(peers: Mapping[str, str]) -> Owner:
    def owner(path: Path) -> tuple[str, Path] | None:
        if path[:4] != _PEER or len(path) < 6:
            return None
        return (peers.get(path[4], path[4]), path[5:])

    return owner


def _bgp_owner(path: Path) -> tuple[str, Path] | None:
    """A BGP neighbour's leaf, by the neighbour's address (the same on both sides)."""
    if path[:2] != ("protocols", "bgp") or "neighbor" not in path:
        return None
    at = path.index("neighbor")
    return (path[at + 1], path[at + 2 :]) if len(path) > at + 2 else None


def _rule_owner(route_maps: Mapping[str, str]) -> Owner:
    def owner(path: Path) -> tuple[str, Path] | None:
        if path[:2] != ("policy", "route-map") or len(path) < 4:
            return None
        return (route_maps.get(path[2], path[2]), path[3:])

    return owner


def _settle(
    pairs: Iterable[tuple[str, str]], have: Sequence[Statement], kind: str
) -> dict[str, str]:
    return _without_collisions(one_to_one(pairs), _names(have, kind))


def _tunnel_renames(have: Sequence[Statement], want: Sequence[Statement]) -> Renames:
    """Peers, their keys, VTIs and groups (what a tunnel is made of)."""
    remote = ("remote-address",)
    have_peers = {n: {n} for n in _names(have, "peer")} | _leaves(have, "peer", remote)
    want_peers = {n: {n} for n in _names(want, "peer")} | _leaves(want, "peer", remote)
    peers = _settle(_match_by_values(have_peers, want_peers), have, "peer")
    psk = _match_by_values(_leaves(have, "psk", ("id",)), _leaves(want, "psk", ("id",)))
    address = ("address",)
    vti = _match_by_values(_leaves(have, "vti", address), _leaves(want, "vti", address))
    vtis = one_to_one(vti)
    owner = _peer_owner(peers)
    for h, w in one_to_one(_match_by_reference(have, want, owner, "vti")).items():
        if h not in vtis and w not in vtis.values():
            vtis[h] = w  # an inside address that differs: matched by the peer's binding
    return {
        "peer": peers,
        "psk": _settle(psk, have, "psk"),
        "vti": _without_collisions(vtis, _names(have, "vti")),
        "ike": _settle(_match_by_reference(have, want, owner, "ike"), have, "ike"),
        "esp": _settle(_match_by_reference(have, want, owner, "esp"), have, "esp"),
    }


def _renamed(statement: Statement, renames: Renames) -> Statement:
    path, value = statement
    for kind, (_, index) in _DEFINED.items():
        name = _name(kind, path)
        if name is not None and name in renames.get(kind, {}):
            path = (*path[:index], renames[kind][name], *path[index + 1 :])
            break
    kind_of_value = _reference(path)
    if kind_of_value is not None and value is not None:
        value = renames.get(kind_of_value, {}).get(value, value)
    return path, value


def _apply(statements: Sequence[Statement], renames: Renames) -> list[Statement]:
    return [_renamed(s, renames) for s in statements]


def rename_like(have: Sequence[Statement], want: Sequence[Statement]) -> list[Statement]:
    """`have` (the running statements) with every name matched to `want`'s replaced."""
    renames = _tunnel_renames(have, want)
    maps = _match_by_reference(have, want, _bgp_owner, "route-map")
    renames["route-map"] = _settle(maps, have, "route-map")
    step = _apply(have, renames)  # prefix-lists are matched inside renamed route-maps
    lists = _match_by_reference(step, want, _rule_owner({}), "prefix-list")
    renames["prefix-list"] = _settle(lists, have, "prefix-list")
    return _apply(have, renames)
