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

import re
from collections.abc import Iterator
from typing import Any

from vpnwatch.errors import ParseError
from vpnwatch.model import BgpNeighbor, BgpSummary
from vpnwatch.parsers._bgp_values import (
    ASN_RE,
    check_state,
    make_neighbor,
    neighbor_address,
    parse_asn,
)
from vpnwatch.parsers._util import (
    MAX_OUTPUT_CHARS,
    at_line,
    check_output,
    first_nonblank,
    is_digits,
    is_frr_uptime,
    is_unsupported_command,
    parse_frr_uptime,
)
from vpnwatch.parsers.bgp_json import parse_bgp_json

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
_PAREN_WORD_RE = re.compile(r"^\([A-Za-z ]+\)$")
_COUNTER_COLUMNS = frozenset(
    {"V", "MsgRcvd", "MsgSent", "MsgRcv", "MsgSen", "TblVer", "InQ", "OutQ"}
)


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
    check_output(text, "bgp summary", MAX_OUTPUT_CHARS)
    if text.lstrip().startswith(("{", "[")):
        return parse_bgp_json(text)
    return _parse_text(text)


# ------------------------------------------------------------------ text

_Token = tuple[int, int, str]  # (line number, column, text)


def _tokens(line: str, number: int) -> list[_Token]:
    return [(number, m.start() + 1, m.group(0)) for m in re.finditer(r"\S+", line)]


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
    number, first = first_nonblank(text)
    if first.startswith("%") and not _NOTHING_RE.match(first):
        raise ParseError(f"line {number}: the router answered with an error message")
    lines = text.splitlines()
    router_id: str | None = None
    local_as: int | None = None
    address_family: str | None = None
    neighbors: list[BgpNeighbor] = []
    recognised = nothing = False
    last_table: tuple[int, int] | None = None  # (header line, rows) of the last table
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
                with at_line(index):
                    router_id, local_as = router.group("rid"), parse_asn(router.group("asn"))
            recognised = True
        elif _is_table_header(tokens):
            header_line = index
            rows, index = _parse_table(lines, index, tokens, address_family)
            neighbors.extend(rows)
            last_table = (header_line, len(rows))
            recognised = True
        elif total := _TOTAL_RE.match(stripped):
            if last_table is not None and int(total.group(1)) != last_table[1]:
                raise ParseError(
                    f"line {index}: the total number of neighbors is not the {last_table[1]} "
                    f"rows of the table at line {last_table[0]}: truncated table"
                )
            last_table = None
        elif _NOTHING_RE.match(stripped):
            recognised = nothing = True
    if not recognised:
        raise ParseError("no BGP summary found (no router identifier line or neighbor table)")
    if not neighbors and not nothing:
        raise ParseError("BGP summary without a neighbor table (truncated output?)")
    return BgpSummary(router_id=router_id, local_as=local_as, neighbors=tuple(neighbors))


def _table_lines(lines: list[str], start: int) -> Iterator[tuple[int, list[_Token]]]:
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
        tokens = _tokens(lines[index], index + 1)
        index += 1
        # Quagga prints a neighbor of 16+ characters alone and the rest on the next line.
        if len(tokens) == 1 and index < len(lines) and lines[index][:1].isspace():
            tokens += _tokens(lines[index], index + 1)
            index += 1
        yield index, tokens


def _parse_table(
    lines: list[str], start: int, header: list[str], address_family: str | None
) -> tuple[list[BgpNeighbor], int]:
    rows: list[BgpNeighbor] = []
    index = start
    for index, tokens in _table_lines(lines, start):  # noqa: B007 - index is the resume point
        with at_line(tokens[0][0]):
            rows.append(_parse_row(tokens, header, address_family))
    if not rows:
        raise ParseError(f"line {start}: neighbor table header without rows (truncated output?)")
    return rows, index


def _value(token: _Token, what: str, convert: Any) -> Any:
    """`convert(text)` with a ParseError at the token's line and column."""
    line, column, text = token
    try:
        return convert(text)
    except ParseError as exc:
        raise ParseError(f"line {line}, column {column}: {what}: {exc}") from None


def _check_fixed(column: str, text: str) -> str:
    if column == "Up/Down":
        ok = is_frr_uptime(text)
    elif column in ("AS", "LocalAS"):
        ok = bool(ASN_RE.match(text))
    else:
        ok = is_digits(text) if column in _COUNTER_COLUMNS else True
    if not ok:
        raise ParseError(f"bad {column} value")
    return text


def _check_sent(text: str) -> str:
    if not is_digits(text) and text != "(Policy)":
        raise ParseError("not a count")
    return text


def _parse_row(tokens: list[_Token], header: list[str], address_family: str | None) -> BgpNeighbor:
    state_at = header.index("State/PfxRcd")
    if len(tokens) <= state_at:
        raise ParseError(f"truncated neighbor row ({len(tokens)} of {state_at + 1}+ fields)")
    fixed = dict(zip(header[1:state_at], tokens[1:state_at], strict=True))
    for column, token in fixed.items():
        _value(token, "neighbor row", lambda text, c=column: _check_fixed(c, text))
    rest = tokens[state_at:]
    taken = 1
    # "Idle (Admin)", "Idle (PfxCt)": a word followed by a parenthesised reason.
    if (
        not is_digits(rest[0][2])
        and not rest[0][2].startswith("(")
        and len(rest) > 1
        and _PAREN_WORD_RE.match(rest[1][2])
    ):
        taken = 2
    state_text = " ".join(token[2] for token in rest[:taken])
    state_token = (rest[0][0], rest[0][1], state_text)
    rest = rest[taken:]
    after_state = header[state_at + 1 :]
    if "PfxSnt" in after_state and rest:
        _value(rest[0], "PfxSnt", _check_sent)
        rest = rest[1:]
    description: str | None = None
    if "Desc" in after_state:
        description = " ".join(token[2] for token in rest) if rest else None
    elif rest:
        line, at, _ = rest[0]
        raise ParseError(f"line {line}, column {at}: unexpected text after State/PfxRcd")
    uptime = _value(fixed["Up/Down"], "Up/Down", parse_frr_uptime)
    if is_digits(state_text):
        state, prefixes = "Established", int(state_text)
    else:
        state, prefixes = _value(state_token, "State/PfxRcd", check_state), None
    return make_neighbor(
        _value(tokens[0], "Neighbor", neighbor_address),
        _value(fixed["AS"], "AS", parse_asn),
        state,
        prefixes,
        uptime,
        address_family,
        description,
    )
