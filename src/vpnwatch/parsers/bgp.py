"""`show ip bgp summary` (VyOS/Vyatta/EdgeOS/Quagga/FRR text) and FRR's JSON form.

Text rows are read by the formats' real rules (FRR bgpd/bgp_vty.c, Quagga bgp_vty.c): the
neighbor is one token (an address, `hostname(address)`, `*address` for a dynamic neighbor or
an interface name; Quagga wraps a neighbor of 16+ characters onto its own line), then one
numeric token per header column up to Up/Down, then State/PfxRcd (a number when Established,
otherwise one or two words such as `Idle (Admin)`), then PfxSnt and Desc when the header has
them. Desc is the rest of the line (a description may contain spaces), so the columns are
counted from the header, never sliced at fixed offsets: unpadded IPv6 neighbors and
overflowing counters shift every column.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from vpnwatch.errors import ParseError
from vpnwatch.model import BgpNeighbor, BgpSummary
from vpnwatch.parsers._util import (
    check_output,
    first_nonblank_line,
    is_digits,
    is_frr_uptime,
    is_unsupported_command,
    parse_frr_uptime,
    snippet,
)

_SECTION_RE = re.compile(
    r"^(?P<af>(?:IPv4|IPv6|L2VPN)(?: [A-Za-z]+){1,2}) Summary(?: \(VRF [^)]*\))?:$"
)
_ROUTER_RE = re.compile(
    r"^BGP router identifier (?P<rid>[^,\s]+), local AS number (?P<asn>[0-9]+(?:\.[0-9]+)?)\b"
)
_TOTAL_RE = re.compile(r"^Total number of neighbors ([0-9]+)$")
# Answers that mean "there is nothing to show" (FRR, Quagga): an empty summary, not an error.
_NOTHING_RE = re.compile(
    r"^%?\s*(?:No\b.*\bneighbors? (?:is )?(?:configured|found)\b|No matching neighbor\b"
    r"|BGP instance not found\b)",
    re.IGNORECASE,
)
_HOSTNAME_RE = re.compile(r"^(?P<host>[^()]+)\((?P<addr>[^()]+)\)$")
_PAREN_WORD_RE = re.compile(r"^\([A-Za-z ]+\)$")
_ASN_RE = re.compile(r"^[0-9]+(?:\.[0-9]+)?$")
_COUNTER_COLUMNS = frozenset(
    {"V", "MsgRcvd", "MsgSent", "MsgRcv", "MsgSen", "TblVer", "InQ", "OutQ"}
)
_MAX_ASN = 2**32 - 1


def bgp_summary_supports_json(text: str) -> bool:
    """Did the router answer the JSON form (`show ip bgp summary json`) with JSON?

    False when it refused the command (old Quagga: `% Unknown command.`) or printed text:
    the adapter then falls back to the text form.
    """
    if is_unsupported_command(text):
        return False
    return text.lstrip().startswith("{")


def parse_bgp_summary(text: str) -> BgpSummary:
    """Parse `show ip bgp summary` text or `show ip bgp summary json`.

    Raises UnsupportedCommand for "% Unknown command"-style answers, EmptyOutput for empty
    output and ParseError for anything that is not a BGP summary.
    """
    check_output(text, "bgp summary")
    if text.lstrip().startswith(("{", "[")):
        return _parse_json(text)
    return _parse_text(text)


# ------------------------------------------------------------------ shared value rules


def parse_asn(text: str) -> int:
    """Plain (`4200000000`) or asdot (`64086.59904`) AS number → int."""
    if not _ASN_RE.match(text):
        raise ParseError(f"bad AS number {snippet(text)}")
    if "." in text:
        high, low = (int(part) for part in text.split("."))
        if high > 0xFFFF or low > 0xFFFF:
            raise ParseError(f"bad AS number {snippet(text)}")
        return high * 65536 + low
    value = int(text)
    if value > _MAX_ASN:
        raise ParseError(f"bad AS number {snippet(text)}")
    return value


def neighbor_address(token: str) -> str:
    """`robot(192.168.201.139)` → `192.168.201.139`; `*10.0.0.1` (dynamic) → `10.0.0.1`."""
    token = token.removeprefix("*")
    match = _HOSTNAME_RE.match(token)
    address = match.group("addr") if match else token
    if not address or "(" in address or ")" in address:
        raise ParseError(f"bad neighbor {snippet(token)}")
    return address


def _neighbor(
    address: str,
    remote_as: int | None,
    state: str,
    prefixes: int | None,
    uptime: int | None,
    address_family: str | None,
    description: str | None,
) -> BgpNeighbor:
    established = state == "Established"
    return BgpNeighbor(
        neighbor=address,
        remote_as=remote_as,
        state=state,
        prefixes_received=prefixes if established else None,
        uptime_seconds=uptime if established else None,
        address_family=address_family,
        description=description,
    )


# ------------------------------------------------------------------ text


def _is_table_header(tokens: list[str]) -> bool:
    return (
        len(tokens) >= 4
        and tokens[0] == "Neighbor"
        and "AS" in tokens
        and "Up/Down" in tokens
        and "State/PfxRcd" in tokens
        and tokens.index("Up/Down") < tokens.index("State/PfxRcd")
    )


def _parse_text(text: str) -> BgpSummary:
    first = first_nonblank_line(text)
    if first.startswith("%") and not _NOTHING_RE.match(first):
        raise ParseError(f"router answered {snippet(first)}")
    lines = text.splitlines()
    router_id: str | None = None
    local_as: int | None = None
    address_family: str | None = None
    neighbors: list[BgpNeighbor] = []
    recognised = False
    last_table_rows: int | None = None
    index = 0
    while index < len(lines):
        stripped = lines[index].strip()
        tokens = stripped.split()
        index += 1
        if section := _SECTION_RE.match(stripped):
            address_family = section.group("af")
            recognised = True
        elif router := _ROUTER_RE.match(stripped):
            if router_id is None:
                router_id, local_as = router.group("rid"), parse_asn(router.group("asn"))
            recognised = True
        elif _is_table_header(tokens):
            rows, index = _parse_table(lines, index, tokens, address_family)
            neighbors.extend(rows)
            last_table_rows = len(rows)
            recognised = True
        elif total := _TOTAL_RE.match(stripped):
            if last_table_rows is not None and int(total.group(1)) != last_table_rows:
                raise ParseError(
                    f"'Total number of neighbors {total.group(1)}' but {last_table_rows} "
                    "neighbor rows: truncated table"
                )
            last_table_rows = None
        elif _NOTHING_RE.match(stripped):
            recognised = True
    if not recognised:
        raise ParseError("no BGP summary found (no router identifier line or neighbor table)")
    if not neighbors and not any(_NOTHING_RE.match(line.strip()) for line in lines):
        raise ParseError("BGP summary without a neighbor table (truncated output?)")
    return BgpSummary(router_id=router_id, local_as=local_as, neighbors=tuple(neighbors))


def _table_lines(lines: list[str], start: int) -> Iterator[tuple[int, list[str]]]:
    """Row tokens from `start` up to the end of the table, joining Quagga's wrapped rows.

    Yields (index after the row, tokens).
    """
    index = start
    while index < len(lines):
        stripped = lines[index].strip()
        if (
            not stripped
            or _TOTAL_RE.match(stripped)
            or _SECTION_RE.match(stripped)
            or _ROUTER_RE.match(stripped)
        ):
            return
        tokens = stripped.split()
        index += 1
        # Quagga prints a neighbor of 16+ characters alone and the rest on the next line.
        if len(tokens) == 1 and index < len(lines) and lines[index][:1].isspace():
            tokens += lines[index].split()
            index += 1
        yield index, tokens


def _parse_table(
    lines: list[str], start: int, header: list[str], address_family: str | None
) -> tuple[list[BgpNeighbor], int]:
    rows: list[BgpNeighbor] = []
    index = start
    for index, tokens in _table_lines(lines, start):  # noqa: B007 - index is the resume point
        rows.append(_parse_row(tokens, header, address_family))
    if not rows:
        raise ParseError("neighbor table header without rows (truncated output?)")
    return rows, index


def _parse_row(tokens: list[str], header: list[str], address_family: str | None) -> BgpNeighbor:
    state_at = header.index("State/PfxRcd")
    if len(tokens) <= state_at:
        raise ParseError(f"truncated neighbor row {snippet(' '.join(tokens))}")
    fixed = dict(zip(header[1:state_at], tokens[1:state_at], strict=True))
    for column, value in fixed.items():
        if column == "Up/Down":
            ok = is_frr_uptime(value)
        elif column in ("AS", "LocalAS"):
            ok = bool(_ASN_RE.match(value))
        else:
            ok = is_digits(value) if column in _COUNTER_COLUMNS else True
        if not ok:
            raise ParseError(f"bad {column} value {snippet(value)} in neighbor row")
    rest = tokens[state_at:]
    taken = 1
    # "Idle (Admin)", "Idle (PfxCt)": a word followed by a parenthesised reason.
    if (
        not is_digits(rest[0])
        and not rest[0].startswith("(")
        and len(rest) > 1
        and _PAREN_WORD_RE.match(rest[1])
    ):
        taken = 2
    state_text = " ".join(rest[:taken])
    rest = rest[taken:]
    after_state = header[state_at + 1 :]
    if "PfxSnt" in after_state and rest:
        rest = rest[1:]
    description: str | None = None
    if "Desc" in after_state:
        description = " ".join(rest) if rest else None
    elif rest:
        raise ParseError(f"unexpected text after State/PfxRcd: {snippet(' '.join(rest))}")
    uptime = parse_frr_uptime(fixed["Up/Down"])
    if is_digits(state_text):
        state, prefixes = "Established", int(state_text)
    else:
        state, prefixes = state_text, None
    return _neighbor(
        neighbor_address(tokens[0]),
        parse_asn(fixed["AS"]),
        state,
        prefixes,
        uptime,
        address_family,
        description,
    )


# ------------------------------------------------------------------ JSON


def _parse_json(text: str) -> BgpSummary:
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as error:
        reason = " ".join(str(error).split()) or type(error).__name__
        raise ParseError(f"invalid JSON: {reason}") from None
    if not isinstance(document, dict):
        raise ParseError("JSON is not an object: not a bgp summary")
    sections = list(_json_sections(document))
    if document and not sections:
        raise ParseError("JSON is not a bgp summary (no peers)")
    router_id: str | None = None
    local_as: int | None = None
    neighbors: list[BgpNeighbor] = []
    for address_family, section in sections:
        if router_id is None and isinstance(section.get("routerId"), str):
            router_id = section["routerId"]
        if local_as is None:
            local_as = _json_asn(section.get("as"))
        peers = section.get("peers", {})
        if not isinstance(peers, dict):
            raise ParseError("JSON 'peers' is not an object")
        for address, peer in peers.items():
            neighbors.append(_json_peer(address, peer, address_family))
    return BgpSummary(router_id=router_id, local_as=local_as, neighbors=tuple(neighbors))


def _is_summary(value: Any) -> bool:
    return isinstance(value, dict) and ("peers" in value or ("routerId" in value and "as" in value))


def _json_sections(document: Mapping[str, Any]) -> Iterator[tuple[str | None, Mapping[str, Any]]]:
    """(address family key, summary) pairs of the three shapes FRR prints.

    Bare summary (older `show ip bgp summary json`), `{"ipv4Unicast": {...}}` and
    `{"<vrf>": {"ipv4Unicast": {...}}}` (`show bgp vrf all summary json`).
    """
    if _is_summary(document):
        yield None, document
        return
    for key, value in document.items():
        if _is_summary(value):
            yield key, value
        elif isinstance(value, dict):
            for inner_key, inner in value.items():
                if _is_summary(inner):
                    yield inner_key, inner


def _json_asn(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= _MAX_ASN else None
    if isinstance(value, str) and _ASN_RE.match(value):
        return parse_asn(value)
    return None


def _json_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _json_peer(address: str, peer: Any, address_family: str | None) -> BgpNeighbor:
    if not isinstance(peer, dict):
        raise ParseError(f"JSON peer {snippet(address)} is not an object")
    state = peer.get("state")
    if not isinstance(state, str) or not state:
        raise ParseError(f"JSON peer {snippet(address)} has no state")
    # FRR 8+ keeps "state": "Idle" and moves the reason to peerState; the text form (and
    # older FRR JSON) says "Idle (Admin)" / "Idle (PfxCt)".
    reason = peer.get("peerState")
    if state == "Idle" and reason in ("Admin", "PfxCt"):
        state = f"Idle ({reason})"
    prefixes = _json_int(peer.get("pfxRcd", peer.get("prefixReceivedCount")))
    uptime: int | None = None
    msec = _json_int(peer.get("peerUptimeMsec"))
    if msec is not None:
        uptime = msec // 1000
    elif isinstance(peer.get("peerUptime"), str) and is_frr_uptime(peer["peerUptime"]):
        uptime = parse_frr_uptime(peer["peerUptime"])
    description = peer.get("desc")
    return _neighbor(
        neighbor_address(address),
        _json_asn(peer.get("remoteAs")),
        state,
        prefixes,
        uptime,
        address_family,
        description if isinstance(description, str) else None,
    )
