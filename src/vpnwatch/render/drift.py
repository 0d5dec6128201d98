"""How a router's running configuration differs from its rendered one (pure).

`vpn_drift` names the sections that differ and counts lines, never values: its result may
go into metrics, logs and reasons (the configs hold pre-shared keys). `align_commands` gives
the `delete`/`set` lines that bring the router in line (its values include keys: mask them
with `vpnwatch.render.secrets.mask` unless the operator asked for them).

Names do not count: the router's own names of peers, keys, VTIs, groups and policies are
first made the rendered ones where they match by meaning (`vpnwatch.render.names`), and
descriptions are free text. Then every rendered line must be on the router. Lines the
router has beyond the rendered ones count where vpnwatch owns the ground: any site-to-site
peer, pre-shared key entry, VTI or BGP statement (a stale tunnel or neighbour is drift),
the IPsec interface options, and the IKE/ESP groups, prefix-lists and route-maps of the
rendered names. Other static routes, policies and groups are the operator's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from vpnwatch.parsers.vyos_config import Statement, canonical_commands, parse_set_command
from vpnwatch.render.names import rename_like

SECTIONS = ("ike", "esp", "ipsec", "peer", "vti", "bgp", "static", "policy")
_MULTI_VALUE = frozenset({"address", "id", "remote-address", "interface"})


def section_of(path: tuple[str, ...]) -> str | None:
    """The section a configuration path belongs to (None: not a VPN/BGP path)."""
    if path[:2] == ("vpn", "ipsec") and len(path) > 2:
        kind = path[2]
        if kind == "ike-group":
            return "ike"
        if kind == "esp-group":
            return "esp"
        if kind == "site-to-site" or path[2:4] == ("authentication", "psk"):
            return "peer"
        if kind in ("ipsec-interfaces", "interface", "options"):
            return "ipsec"
        return None
    if path[:2] == ("interfaces", "vti"):
        return "vti"
    if path[:2] == ("protocols", "bgp"):
        return "bgp"
    if path[:2] == ("protocols", "static"):
        return "static"
    if path[:1] == ("policy",) and path[1:2] in (("prefix-list",), ("route-map",)):
        return "policy"
    return None


def _owned_names(rendered: Iterable[Statement]) -> frozenset[tuple[str, ...]]:
    """The named groups and policies the rendered config defines (their subtree is ours)."""
    names = set()
    for path, _ in rendered:
        if path[:3] in (("vpn", "ipsec", "ike-group"), ("vpn", "ipsec", "esp-group")):
            names.add(path[:4])
        elif path[:2] in (("policy", "prefix-list"), ("policy", "route-map")):
            names.add(path[:3])
    return frozenset(names)


def _owned(path: tuple[str, ...], section: str, names: frozenset[tuple[str, ...]]) -> bool:
    """Whether a line the router has beyond the rendered ones counts as drift."""
    if section in ("peer", "vti", "bgp", "ipsec"):
        return True
    if section in ("ike", "esp"):
        return path[:4] in names
    if section == "policy":
        return path[:3] in names
    return False  # static: other routes are the operator's


def _statements(commands: Sequence[str]) -> list[Statement]:
    """Canonical statements of `set` lines (ParseError on a line that is not one)."""
    canonical = canonical_commands(
        [parse_set_command(c, n) for n, c in enumerate(commands, start=1)]
    )
    return [parse_set_command(c) for c in canonical]


@dataclass(frozen=True)
class SectionDrift:
    section: str
    missing: int  # rendered lines the router does not have
    extra: int  # lines the router has where vpnwatch owns the ground, beyond the rendered

    @property
    def drifted(self) -> bool:
        return bool(self.missing or self.extra)


@dataclass(frozen=True)
class VpnDrift:
    sections: tuple[SectionDrift, ...]  # every section of SECTIONS, in that order

    @property
    def drifted(self) -> tuple[str, ...]:
        return tuple(s.section for s in self.sections if s.drifted)

    def reason(self) -> str:
        """One line naming sections and counts, never a value."""
        if not self.drifted:
            return "VPN configuration matches AWS"
        parts = [
            f"{s.section} ({s.missing} missing, {s.extra} extra)"
            for s in self.sections
            if s.drifted
        ]
        return "VPN configuration differs from AWS in: " + ", ".join(parts)


def _differences(
    have: Sequence[Statement], wanted: Sequence[Statement]
) -> tuple[list[Statement], list[Statement]]:
    """(missing rendered statements, owned extra running ones)."""
    wanted_set, have_set = set(wanted), set(have)
    names = _owned_names(wanted)
    missing = [s for s in wanted if s not in have_set and section_of(s[0]) is not None]
    extra = []
    for statement in have:
        section = section_of(statement[0])
        if statement not in wanted_set and section and _owned(statement[0], section, names):
            extra.append(statement)
    return missing, extra


def vpn_drift(running: Sequence[str], rendered: Sequence[str]) -> VpnDrift:
    """Per section, how the running `set` commands differ from the rendered ones in what
    AWS cares about: the router's own names are first made the rendered ones where they
    match by meaning (`names.rename_like`), and descriptions are free text."""
    wanted = _statements(rendered)
    missing, extra = _differences(rename_like(_statements(running), wanted), wanted)
    counts = {name: [0, 0] for name in SECTIONS}
    for path, _ in missing:
        if path[-1] != "description":
            counts[section_of(path) or ""][0] += 1
    for path, _ in extra:
        if path[-1] != "description":
            counts[section_of(path) or ""][1] += 1
    return VpnDrift(tuple(SectionDrift(name, *counts[name]) for name in SECTIONS))


def _format(verb: str, path: tuple[str, ...], value: str | None) -> str:
    words = " ".join(path)
    return f"{verb} {words}" if value is None else f"{verb} {words} '{value}'"


def align_commands(running: Sequence[str], rendered: Sequence[str]) -> tuple[str, ...]:
    """`delete` lines for what the router has beyond the rendered config (stale peers,
    VTIs, neighbours: the whole node), then `set` lines for what it lacks. A changed
    single value needs only its `set`; a multi-value leaf (an address, a key id) also
    loses its old value. Nothing for a router without drift (by meaning: its own names may
    stay); a drifting one is aligned literally, so it also gets the rendered names."""
    if not vpn_drift(running, rendered).drifted:
        return ()
    wanted = _statements(rendered)
    missing, extra = _differences(_statements(running), wanted)
    prefixes = {path[:n] for path, _ in wanted for n in range(1, len(path) + 1)}
    valued = {path for path, value in wanted if value is not None}
    deletes: list[str] = []
    for path, value in extra:
        base = 3 if section_of(path) in ("ike", "esp", "policy") else 2
        gone = next(
            (path[:n] for n in range(base + 1, len(path) + 1) if path[:n] not in prefixes), None
        )
        if gone is not None:
            line = _format("delete", gone, None)
        elif value is not None and path[-1] in _MULTI_VALUE and path in valued:
            line = _format("delete", path, value)
        else:
            continue  # a single value the `set` below replaces
        if not any(line == d or line.startswith(d + " ") for d in deletes):
            deletes.append(line)
    return (*sorted(deletes), *(_format("set", p, v) for p, v in missing))
