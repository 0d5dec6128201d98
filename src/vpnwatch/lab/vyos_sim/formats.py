"""Number and time formatting exactly as the real tools print them (pure functions)."""

from __future__ import annotations

import re
from typing import Literal

Version = Literal["1.1", "1.3", "1.4", "1.5"]
VERSIONS: tuple[Version, ...] = ("1.1", "1.3", "1.4", "1.5")

_DAY = 86400
_WEEK = 7 * _DAY
_YEAR = 365 * _DAY


def since_1_4(version: Version) -> bool:
    """1.4 (sagitta) and 1.5 (circinus) share the syntax and output formats the lab models:
    named IPsec peers, `protocols bgp system-as`, FRR >= 9 (docs/render.md lists the sources)."""
    return version in ("1.4", "1.5")


def check_version(version: str) -> Version:
    for known in VERSIONS:
        if version == known:
            return known
    raise ValueError(f"unsupported VyOS version {version!r}: use one of {', '.join(VERSIONS)}")


def frr_uptime(seconds: float) -> str:
    """FRR/Quagga `peer_uptime()`: hh:mm:ss, XdYYhZZm, XXwYdZZh (then XXyYYwZd)."""
    s = max(0, int(seconds))
    days, rest = divmod(s, _DAY)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if s < _DAY:
        return f"{hours:02d}:{minutes:02d}:{secs:02d}"
    if s < _WEEK:
        return f"{days}d{hours:02d}h{minutes:02d}m"
    if s < _YEAR:
        return f"{days // 7:02d}w{days % 7}d{hours:02d}h"
    years, yday = divmod(days, 365)
    return f"{years:02d}y{yday // 7:02d}w{yday % 7}d"


def seconds_to_human(seconds: float) -> str:
    """vyos.utils.convert.seconds_to_human: 1w2d3h4m5s; zero prints as an empty string."""
    s = max(0, int(seconds))
    out = ""
    for unit, size in (("w", _WEEK), ("d", _DAY), ("h", 3600), ("m", 60)):
        count, s = divmod(s, size)
        if count:
            out += f"{count}{unit}"
    return out + (f"{s}s" if s else "")


def hurry_size(count: int, *, si: bool = False) -> str:
    """hurry.filesize.size(): floor to the largest unit, B/K/M/G/T (1024) or SI (1000)."""
    base = 1000 if si else 1024
    for suffix, power in (("P", 5), ("T", 4), ("G", 3), ("M", 2), ("K", 1)):
        factor = base**power
        if count >= factor:
            return f"{count // factor}{suffix}"
    return f"{count}B"


def perl_bytes(count: int) -> str:
    """Vyatta OPMode.pm conv_bytes(): one decimal, K above 1024, M, G."""
    if 1024 < count < 1048576:
        return f"{count / 1024:.1f}K"
    if 1048576 <= count < 1073741824:
        return f"{count / 1048576:.1f}M"
    if count >= 1073741824:
        return f"{count / 1073741824:.1f}G"
    return f"{count:.1f}"


def memstr(size: int) -> str:
    """Quagga/FRR mtype_memstr(): bytes, then KiB past 10 KiB, MiB past 10 MiB (rounded)."""
    if size == 0:
        return "0 bytes"
    if size == 1:
        return "1 byte"
    mib, kib = size >> 20, size >> 10
    if mib > 10:
        return f"{mib + (1 if size & (1 << 19) else 0)} MiB"
    if kib > 10:
        return f"{kib + (1 if size & (1 << 9) else 0)} KiB"
    return f"{size} bytes"


def natural_key(text: str) -> list[tuple[int, int | str]]:
    """Sort key that orders 2 before 10 (VyOS sorts tag nodes and rule numbers this way)."""
    return [
        (0, int(part)) if part.isdigit() else (1, part.lower())
        for part in re.split(r"(\d+)", text)
        if part
    ]


def ip_key(address: str) -> tuple[int, ...]:
    """Numeric sort key of a dotted IPv4 address; other strings sort after, by text."""
    parts = address.split(".")
    if len(parts) == 4 and all(p.isdigit() for p in parts):
        return (0, *(int(p) for p in parts))
    return (1, *(ord(c) for c in address))
