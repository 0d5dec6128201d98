"""The per-peer block layout shared by `show vpn ike sa` and the old `show vpn ipsec sa`.

    Peer ID / IP                            Local ID / IP
    ------------                            -------------
    207.171.167.234                         10.0.1.30

        Description: mgmt-dev1

        Tunnel  State  Bytes Out/In   Encrypt  Hash    NAT-T  A-Time  L-Time  Proto
        ------  -----  -------------  -------  ----    -----  ------  ------  -----
        vti     up     21.7K/21.8K    aes128   sha1    no     2747    3600    all

(vyatta-op-vpn Perl for VyOS ≤ 1.2 and Vyatta; vyos-1x vpn_ike_sa.py keeps it for IKE.)
"""

from __future__ import annotations

from dataclasses import dataclass

from vpnwatch.errors import ParseError
from vpnwatch.parsers._util import (
    Column,
    at_line,
    is_ip_address,
    is_rule_line,
    split_peer_line,
    split_row,
    table_columns,
)

PEER_HEADER = "Peer ID / IP"
_LOCAL_HEADER = "Local ID / IP"


@dataclass(frozen=True)
class PeerBlock:
    peer: str
    local: str | None
    columns: tuple[Column, ...]
    rows: tuple[dict[str, str], ...]
    row_lines: tuple[int, ...]  # the line number of each row, for error messages


def _skip_blank(lines: list[str], index: int) -> int:
    while index < len(lines) and not lines[index].strip():
        index += 1
    return index


def _is_trailer(line: str) -> bool:
    """Lines that may surround the blocks: blank, `[edit]` (run from configuration mode)."""
    return not line.strip() or line.strip() == "[edit]"


def parse_peer_blocks(
    text: str, first_column: str, may_be_empty: frozenset[str] = frozenset()
) -> list[PeerBlock]:
    """Every peer block; `first_column` names the first column of the per-peer table and
    `may_be_empty` the cells that may legitimately be blank (the Perl Tunnel column)."""
    lines = text.splitlines()
    blocks: list[PeerBlock] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if _is_trailer(line):
            index += 1
            continue
        if PEER_HEADER not in line:
            raise ParseError(f"line {index + 1}: unexpected line (not a peer block)")
        block, index = _parse_block(lines, index, first_column, may_be_empty)
        blocks.append(block)
    if not blocks:
        raise ParseError(f"no '{PEER_HEADER}' block found")
    return blocks


def _peer_addresses(line: str, number: int, local_start: int) -> tuple[str, str | None]:
    with at_line(number):
        peer, local = split_peer_line(line, local_start)
    for value, what in ((peer, "peer"), (local, "local")):
        if value is not None and not is_ip_address(value):
            column = line.find(value) + 1
            raise ParseError(f"line {number}, column {column}: {what} is not an IP address")
    return peer, local


def _parse_block(
    lines: list[str], index: int, first_column: str, may_be_empty: frozenset[str]
) -> tuple[PeerBlock, int]:
    header = lines[index]
    start = index + 1  # line number of the header
    local_start = header.find(_LOCAL_HEADER)
    index += 1
    if index >= len(lines) or not is_rule_line(lines[index]):
        raise ParseError(f"line {start}: peer header without its rule line (truncated output?)")
    index = _skip_blank(lines, index + 1)
    if index >= len(lines):
        raise ParseError(f"line {start}: peer header without a peer line (truncated output?)")
    peer, local = _peer_addresses(lines[index], index + 1, local_start if local_start >= 0 else 40)
    index += 1
    # Optional "Description: ..." line, blank lines around it.
    index = _skip_blank(lines, index)
    if index < len(lines) and lines[index].strip().startswith("Description:"):
        index = _skip_blank(lines, index + 1)
    if index >= len(lines) or lines[index].split()[:1] != [first_column]:
        raise ParseError(f"line {start}: peer without its SA table (truncated output?)")
    table_header = lines[index]
    index += 1
    if index >= len(lines) or not is_rule_line(lines[index]):
        raise ParseError(f"line {index}: table header without rule line")
    with at_line(index + 1):
        columns = table_columns(table_header, lines[index])
    index += 1
    rows: list[dict[str, str]] = []
    numbers: list[int] = []
    while index < len(lines) and not _is_trailer(lines[index]) and PEER_HEADER not in lines[index]:
        with at_line(index + 1):
            rows.append(split_row(lines[index], columns, may_be_empty))
        numbers.append(index + 1)
        index += 1
    if not rows:
        raise ParseError(f"line {start}: peer's SA table without rows (truncated output?)")
    return PeerBlock(peer, local, columns, tuple(rows), tuple(numbers)), index
