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
    is_rule_line,
    snippet,
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
            raise ParseError(f"unexpected line {snippet(line)}")
        block, index = _parse_block(lines, index, first_column, may_be_empty)
        blocks.append(block)
    if not blocks:
        raise ParseError(f"no '{PEER_HEADER}' block found")
    return blocks


def _parse_block(
    lines: list[str], index: int, first_column: str, may_be_empty: frozenset[str]
) -> tuple[PeerBlock, int]:
    header = lines[index]
    local_start = header.find(_LOCAL_HEADER)
    index += 1
    if index >= len(lines) or not is_rule_line(lines[index]):
        raise ParseError("peer header without its rule line (truncated output?)")
    index = _skip_blank(lines, index + 1)
    if index >= len(lines):
        raise ParseError("peer header without a peer line (truncated output?)")
    peer, local = split_peer_line(lines[index], local_start if local_start >= 0 else 40)
    index += 1
    # Optional "Description: ..." line, blank lines around it.
    index = _skip_blank(lines, index)
    if index < len(lines) and lines[index].strip().startswith("Description:"):
        index = _skip_blank(lines, index + 1)
    if index >= len(lines) or lines[index].split()[:1] != [first_column]:
        raise ParseError(f"peer {snippet(peer)} without its SA table (truncated output?)")
    table_header = lines[index]
    index += 1
    if index >= len(lines) or not is_rule_line(lines[index]):
        raise ParseError(f"peer {snippet(peer)}: table header without rule line")
    columns = table_columns(table_header, lines[index])
    index += 1
    rows: list[dict[str, str]] = []
    while index < len(lines) and not _is_trailer(lines[index]) and PEER_HEADER not in lines[index]:
        rows.append(split_row(lines[index], columns, may_be_empty))
        index += 1
    if not rows:
        raise ParseError(f"peer {snippet(peer)}: SA table without rows (truncated output?)")
    return PeerBlock(peer, local, columns, tuple(rows)), index
