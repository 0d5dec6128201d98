"""`show vpn ike sa`: VyOS 1.1/1.2 Perl blocks, VyOS 1.3 and VyOS ≥ 1.4 (vpn_ike_sa.py).

All three print one block per peer; the table columns differ (1.1/1.2: `State Encrypt Hash
D-H Grp NAT-T A-Time L-Time`; 1.3+: an `IKEVer` column and `D-H Group`), so cells are read by
column name. A-Time is the SA's age, L-Time its lifetime (time to rekey).
"""

from __future__ import annotations

from vpnwatch.errors import ParseError
from vpnwatch.model import IkeSa, IkeSaList
from vpnwatch.parsers._blocks import PEER_HEADER, PeerBlock, parse_peer_blocks
from vpnwatch.parsers._util import (
    MAX_OUTPUT_CHARS,
    at_line,
    cell,
    check_output,
    check_service_running,
    first_nonblank,
    int_or_none,
    none_if_na,
    up_down_state,
)

_REQUIRED = ("State", "Encrypt", "Hash", "A-Time", "L-Time")


def parse_ike_sa(text: str) -> IkeSaList:
    """Parse `show vpn ike sa`; raises ParseError (or a subclass) for anything else."""
    check_output(text, "show vpn ike sa", MAX_OUTPUT_CHARS)
    check_service_running(text)
    if PEER_HEADER not in text:
        number, _ = first_nonblank(text)
        raise ParseError(f"line {number}: not 'show vpn ike sa' output (no peer block)")
    sas: list[IkeSa] = []
    for block in parse_peer_blocks(text, "State"):
        names = {c.name for c in block.columns}
        missing = [name for name in _REQUIRED if name not in names]
        if missing:
            first = block.row_lines[0] - 2
            raise ParseError(f"line {first}: IKE table without column(s) {', '.join(missing)}")
        for row, number in zip(block.rows, block.row_lines, strict=True):
            dh_group = row.get("D-H Group", row.get("D-H Grp", ""))
            with at_line(number):
                sas.append(_ike_sa(block, row, dh_group))
    return IkeSaList(ike_sas=tuple(sas))


def _ike_sa(block: PeerBlock, row: dict[str, str], dh_group: str) -> IkeSa:
    return IkeSa(
        peer=block.peer,
        local=block.local,
        state=cell(row, "State", up_down_state),
        ike_version=none_if_na(row.get("IKEVer", "")),
        encryption=none_if_na(row["Encrypt"]),
        hash=none_if_na(row["Hash"]),
        dh_group=none_if_na(dh_group),
        uptime_seconds=cell(row, "A-Time", int_or_none),
        lifetime_seconds=cell(row, "L-Time", int_or_none),
    )
