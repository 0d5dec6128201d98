"""`show vpn ipsec sa`: the Perl per-peer blocks (VyOS ≤ 1.2, Vyatta) and the VyOS ≥ 1.3 table.

Byte counts are rounded by the router; we report the lower bound of what the text allows:
- Perl (vyatta-op-vpn `conv_bytes`): 1024-based, `sprintf("%.1f")` rounded, column `Bytes
  Out/In` (the header says which side comes first);
- VyOS ≥ 1.3 (vyos-1x op_mode/ipsec.py, hurry.filesize): 1024-based and floored (`23K` is
  23552..24575 bytes), column `Bytes In/Out`; an empty Uptime cell is 0 s, `N/A` unknown.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

from vpnwatch.errors import ParseError
from vpnwatch.model import IpsecSa, IpsecSaList
from vpnwatch.parsers._blocks import PEER_HEADER, PeerBlock, parse_peer_blocks
from vpnwatch.parsers._util import (
    MAX_OUTPUT_CHARS,
    at_line,
    cell,
    check_output,
    check_service_running,
    first_nonblank,
    int_or_none,
    is_ip_address,
    is_rule_line,
    none_if_na,
    parse_unit_duration,
    split_row,
    table_columns,
    up_down_state,
)

_MULTIPLIER = {"": 1, "B": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4, "P": 1024**5}
_PERL_BYTES_RE = re.compile(r"^([0-9]+(?:\.[0-9])?)([KMG]?)$")
_TABLE_BYTES_RE = re.compile(r"^([0-9]+)([BKMGTP])$")
_TABLE_REQUIRED = ("Connection", "State", "Uptime", "Bytes In/Out", "Remote address")


def parse_ipsec_sa(text: str) -> IpsecSaList:
    """Parse `show vpn ipsec sa` (any VyOS/Vyatta format); ParseError for anything else.

    Every row is kept, in order: the same connection may appear twice (an old SA going down
    and its replacement up); deciding what that means is the consumer's job.
    """
    check_output(text, "show vpn ipsec sa", MAX_OUTPUT_CHARS)
    check_service_running(text)
    number, first = first_nonblank(text)
    if first.split()[:1] == ["Connection"]:
        return IpsecSaList(ipsec_sas=tuple(_parse_table(text)))
    if PEER_HEADER in text:
        return IpsecSaList(
            ipsec_sas=tuple(
                sa
                for block in parse_peer_blocks(text, "Tunnel", frozenset({"Tunnel"}))
                for sa in _perl_sas(block)
            )
        )
    raise ParseError(f"line {number}: not 'show vpn ipsec sa' output (no table, no peer block)")


# ------------------------------------------------------------------ Perl blocks


def perl_bytes_lower_bound(text: str) -> int | None:
    """`21.7K` → 22170 (smallest byte count that prints as 21.7K); `n/a` → None."""
    if text.lower() in ("n/a", ""):
        return None
    match = _PERL_BYTES_RE.match(text)
    if not match:
        raise ParseError("bad byte count")
    value, suffix = Fraction(match.group(1)), match.group(2)
    multiplier = _MULTIPLIER[suffix]
    if "." not in match.group(1):
        return int(value) * multiplier
    lower = math.ceil((value - Fraction(1, 20)) * multiplier)
    return max(lower, multiplier if suffix else 0)


def _perl_sas(block: PeerBlock) -> list[IpsecSa]:
    names = {c.name for c in block.columns}
    bytes_column = next((n for n in names if n.startswith("Bytes ")), None)
    missing = [n for n in ("Tunnel", "State") if n not in names]
    if missing or bytes_column is None:
        first_row = block.row_lines[0] - 2
        columns = ", ".join(missing) or "Bytes"
        raise ParseError(f"line {first_row}: IPsec table without column(s) {columns}")
    out_first = bytes_column.endswith("Out/In")
    sas: list[IpsecSa] = []
    for row, number in zip(block.rows, block.row_lines, strict=True):
        with at_line(number):
            first, second = cell(row, bytes_column, _split_pair)
            first_bytes = cell({bytes_column: first}, bytes_column, perl_bytes_lower_bound)
            second_bytes = cell({bytes_column: second}, bytes_column, perl_bytes_lower_bound)
            tunnel = row["Tunnel"]
            sas.append(
                IpsecSa(
                    # vyatta-cfg-vpn names the strongSwan connection peer-<peer>-tunnel-<tunnel>.
                    connection=f"peer-{block.peer}-tunnel-{tunnel}" if tunnel else None,
                    peer=block.peer,
                    state=cell(row, "State", up_down_state),
                    bytes_in=second_bytes if out_first else first_bytes,
                    bytes_out=first_bytes if out_first else second_bytes,
                    uptime_seconds=cell(row, "A-Time", int_or_none),
                )
            )
    return sas


def _split_pair(text: str) -> tuple[str, str]:
    if text.lower() in ("n/a", ""):
        return "n/a", "n/a"
    parts = text.split("/")
    if len(parts) != 2:
        raise ParseError("bad in/out pair")
    return parts[0], parts[1]


# ------------------------------------------------------------------ VyOS >= 1.3 table


def table_bytes_lower_bound(text: str) -> int | None:
    """`23K` → 23552, `168B` → 168, `N/A` → None."""
    if text.lower() in ("n/a", ""):
        return None
    match = _TABLE_BYTES_RE.match(text)
    if not match:
        raise ParseError("bad byte count")
    return int(match.group(1)) * _MULTIPLIER[match.group(2)]


def table_uptime(text: str) -> int | None:
    """`3m28s` → 208; an empty cell is 0 s (seconds_to_human(0) == ""); `N/A` → None."""
    if text == "":
        return 0
    if text.lower() == "n/a":
        return None
    seconds = parse_unit_duration(text)
    if seconds is None:
        raise ParseError("bad uptime")
    return seconds


def _remote_address(text: str) -> str | None:
    address = none_if_na(text)
    if address is not None and not is_ip_address(address):
        raise ParseError("not an IP address")
    return address


def _parse_table(text: str) -> list[IpsecSa]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip())
    if start + 1 >= len(lines) or not is_rule_line(lines[start + 1]):
        raise ParseError(
            f"line {start + 1}: IPsec SA table header without rule line (truncated output?)"
        )
    with at_line(start + 2):
        columns = table_columns(lines[start], lines[start + 1])
    names = {c.name for c in columns}
    missing = [name for name in _TABLE_REQUIRED if name not in names]
    if missing:
        raise ParseError(f"line {start + 1}: IPsec SA table without column(s) {', '.join(missing)}")
    sas: list[IpsecSa] = []
    for index in range(start + 2, len(lines)):
        row_text = lines[index]
        if not row_text.strip() or row_text.strip() == "[edit]":
            continue
        with at_line(index + 1):
            sas.append(_table_sa(split_row(row_text, columns, frozenset({"Uptime"}))))
    return sas


def _table_sa(row: dict[str, str]) -> IpsecSa:
    if not row["Connection"]:
        raise ParseError("IPsec SA row without connection name")
    bytes_in, bytes_out = cell(row, "Bytes In/Out", _split_pair)
    return IpsecSa(
        connection=row["Connection"],
        peer=cell(row, "Remote address", _remote_address),
        state=cell(row, "State", up_down_state),
        bytes_in=cell({"Bytes In/Out": bytes_in}, "Bytes In/Out", table_bytes_lower_bound),
        bytes_out=cell({"Bytes In/Out": bytes_out}, "Bytes In/Out", table_bytes_lower_bound),
        uptime_seconds=cell(row, "Uptime", table_uptime),
    )
