"""`show vpn ike sa`: VyOS 1.1/1.2 Perl blocks, VyOS 1.3 and VyOS ≥ 1.4 (vpn_ike_sa.py).

All three print one block per peer; the table columns differ (1.1/1.2: `State Encrypt Hash
D-H Grp NAT-T A-Time L-Time`; 1.3+: an `IKEVer` column and `D-H Group`), so cells are read by
column name. A-Time is the SA's age, L-Time its lifetime (time to rekey).
"""

from __future__ import annotations

from vpnwatch.errors import ParseError
from vpnwatch.model import IkeSa, IkeSaList
from vpnwatch.parsers._blocks import PEER_HEADER, parse_peer_blocks
from vpnwatch.parsers._util import (
    check_output,
    check_service_running,
    first_nonblank_line,
    int_or_none,
    none_if_na,
    snippet,
    up_down_state,
)

_REQUIRED = ("State", "Encrypt", "Hash", "A-Time", "L-Time")


def parse_ike_sa(text: str) -> IkeSaList:
    """Parse `show vpn ike sa`; raises ParseError (or a subclass) for anything else."""
    check_output(text, "show vpn ike sa")
    check_service_running(text)
    if PEER_HEADER not in text:
        raise ParseError(f"not 'show vpn ike sa' output: {snippet(first_nonblank_line(text))}")
    sas: list[IkeSa] = []
    for block in parse_peer_blocks(text, "State"):
        names = {c.name for c in block.columns}
        missing = [name for name in _REQUIRED if name not in names]
        if missing:
            raise ParseError(f"IKE table without column(s) {', '.join(missing)}")
        for row in block.rows:
            dh_group = row.get("D-H Group", row.get("D-H Grp", ""))
            sas.append(
                IkeSa(
                    peer=block.peer,
                    local=block.local,
                    state=up_down_state(row["State"]),
                    ike_version=none_if_na(row.get("IKEVer", "")),
                    encryption=none_if_na(row["Encrypt"]),
                    hash=none_if_na(row["Hash"]),
                    dh_group=none_if_na(dh_group),
                    uptime_seconds=int_or_none(row["A-Time"]),
                    lifetime_seconds=int_or_none(row["L-Time"]),
                )
            )
    return IkeSaList(ike_sas=tuple(sas))
