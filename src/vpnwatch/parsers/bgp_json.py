"""`show ip bgp summary json` (FRR): three document shapes, every field type-checked.

JSON is read with NaN/Infinity refused and every float finite; a field of the wrong type is
a parse error naming the summary, the peer's index and the field, never the value.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping
from typing import Any

from vpnwatch.errors import ParseError
from vpnwatch.model import BgpNeighbor, BgpSummary
from vpnwatch.parsers._bgp_values import (
    ASN_RE,
    MAX_ASN,
    check_state,
    make_neighbor,
    neighbor_address,
    parse_asn,
)
from vpnwatch.parsers._util import is_frr_uptime, is_ip_address, parse_frr_uptime


def _no_constant(name: str) -> Any:
    raise ParseError(f"invalid JSON: {name} is not a finite number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ParseError("invalid JSON: a number too large to be finite")
    return value


def parse_bgp_json(text: str) -> BgpSummary:
    try:
        document = json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except json.JSONDecodeError as error:
        raise ParseError(
            f"invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}"
        ) from None
    except RecursionError:
        raise ParseError("invalid JSON: nested deeper than the parser's limit") from None
    except ValueError:  # an integer of more than 4300 digits
        raise ParseError("invalid JSON: a number too large") from None
    if not isinstance(document, dict):
        raise ParseError("JSON is not an object: not a bgp summary")
    sections = list(_json_sections(document))
    if document and not sections:
        raise ParseError("JSON is not a bgp summary (no peers)")
    router_id: str | None = None
    local_as: int | None = None
    neighbors: list[BgpNeighbor] = []
    for number, (address_family, section) in enumerate(sections, start=1):
        where = f"JSON summary {number}"
        if router_id is None and isinstance(section.get("routerId"), str):
            router_id = _json_field(where, "routerId", section["routerId"], _router_id)
        if local_as is None:
            local_as = _json_field(where, "as", section.get("as"), _json_asn)
        peers = section.get("peers", {})
        if not isinstance(peers, dict):
            raise ParseError(f"{where}: 'peers' is not an object")
        for index, (address, peer) in enumerate(peers.items(), start=1):
            neighbors.append(_json_peer(f"{where}, peer {index}", address, peer, address_family))
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
            yield _json_family(key), value
        elif isinstance(value, dict):
            for inner_key, inner in value.items():
                if _is_summary(inner):
                    yield _json_family(inner_key), inner


def _json_family(key: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", key):
        raise ParseError("JSON address family key is not a name")
    return key


def _json_field(where: str, name: str, value: Any, convert: Any) -> Any:
    try:
        return convert(value)
    except ParseError as exc:
        raise ParseError(f"{where}: '{name}': {exc}") from None


def _router_id(value: str) -> str:
    if not is_ip_address(value):
        raise ParseError("not an IP address")
    return value


def _json_asn(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_ASN:
        return value
    if isinstance(value, str) and ASN_RE.match(value):
        return parse_asn(value)
    raise ParseError("not an AS number")


def _json_count(value: Any) -> int | None:
    """A non-negative integer or absent; anything else (a float, a string, -1) is an error."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise ParseError("not a non-negative integer")


def _json_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    raise ParseError("not a string")


def _json_peer(where: str, address: str, peer: Any, address_family: str | None) -> BgpNeighbor:
    if not isinstance(peer, dict):
        raise ParseError(f"{where}: not an object")
    state = peer.get("state")
    if not isinstance(state, str) or not state:
        raise ParseError(f"{where} has no state")
    # FRR 8+ keeps "state": "Idle" and moves the reason to peerState; the text form (and
    # older FRR JSON) says "Idle (Admin)" / "Idle (PfxCt)".
    reason = peer.get("peerState")
    if state == "Idle" and reason in ("Admin", "PfxCt"):
        state = f"Idle ({reason})"
    _json_field(where, "state", state, check_state)
    count_key = "pfxRcd" if "pfxRcd" in peer else "prefixReceivedCount"
    prefixes = _json_field(where, count_key, peer.get(count_key), _json_count)
    uptime: int | None = None
    msec = _json_field(where, "peerUptimeMsec", peer.get("peerUptimeMsec"), _json_count)
    if msec is not None:
        uptime = msec // 1000
    elif isinstance(peer.get("peerUptime"), str) and is_frr_uptime(peer["peerUptime"]):
        uptime = parse_frr_uptime(peer["peerUptime"])
    return make_neighbor(
        _json_field(where, "neighbor", address, neighbor_address),
        _json_field(where, "remoteAs", peer.get("remoteAs"), _json_asn),
        state,
        prefixes,
        uptime,
        address_family,
        _json_field(where, "desc", peer.get("desc"), _json_text),
    )
