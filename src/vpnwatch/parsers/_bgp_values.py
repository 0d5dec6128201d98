"""Value rules shared by the text and JSON forms of `show ip bgp summary` (pure)."""

from __future__ import annotations

import re

from vpnwatch.errors import ParseError
from vpnwatch.model import BgpNeighbor
from vpnwatch.parsers._util import is_ip_address

_HOSTNAME_RE = re.compile(r"^(?P<host>[^()]+)\((?P<addr>[^()]+)\)$")
# An unnumbered neighbor is an interface name: letters then a digit (eth1, ens5, br0.10).
_INTERFACE_RE = re.compile(r"^[a-z]+[0-9][a-z0-9]*(?:[._-][a-z0-9]+)*$")
ASN_RE = re.compile(r"^[0-9]+(?:\.[0-9]+)?$")
# The BGP FSM states FRR and Quagga print (bgp_status_msg), optionally with the reason FRR
# and Quagga add for an idle peer ("Idle (Admin)", "Idle (PfxCt)"); "NoNeg" (address family
# not negotiated) and "(Policy)" (RFC 8212: no policy) in the State/PfxRcd column.
_STATE_RE = re.compile(
    r"^(?:(?:Idle|Connect|Active|OpenSent|OpenConfirm|Established|Clearing|Deleted)"
    r"(?: \([A-Za-z]+\))?|NoNeg|\(Policy\))$"
)
MAX_ASN = 2**32 - 1


def parse_asn(text: str) -> int:
    """Plain (`4200000000`) or asdot (`64086.59904`) AS number → int."""
    if not ASN_RE.match(text):
        raise ParseError("bad AS number")
    if "." in text:
        high, low = (int(part) for part in text.split("."))
        if high > 0xFFFF or low > 0xFFFF:
            raise ParseError("bad AS number (asdot part over 65535)")
        return high * 65536 + low
    value = int(text)
    if value > MAX_ASN:
        raise ParseError("bad AS number (over 4294967295)")
    return value


def neighbor_address(token: str) -> str:
    """`robot(192.168.201.139)` → `192.168.201.139`; `*10.0.0.1` (dynamic) → `10.0.0.1`;
    an unnumbered neighbor's interface name (`eth1`) as it is. Anything else (an invalid
    address, a word) is a ParseError."""
    token = token.removeprefix("*")
    match = _HOSTNAME_RE.match(token)
    address = match.group("addr") if match else token
    if is_ip_address(address) or (match is None and _INTERFACE_RE.match(address)):
        return address
    raise ParseError("neighbor is not an IP address or an interface name")


def check_state(text: str) -> str:
    if not _STATE_RE.match(text):
        raise ParseError("unknown BGP state")
    return text


def make_neighbor(
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
