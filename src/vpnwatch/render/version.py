"""Which VyOS syntax a router speaks, from its `show version` (pure).

`Version:` reads `VyOS 1.3.8`, `VyOS 1.4.3`, `VyOS 1.5-stream-2025-Q2`, `VyOS
1.5-rolling-202601090247` or, for some rolling images, a date; then `Release train:`
(equuleus 1.3, sagitta 1.4, circinus 1.5) decides.
"""

from __future__ import annotations

import re

from vpnwatch.errors import ParseError
from vpnwatch.render.model import VYOS_VERSIONS, VyosVersion

_VERSION = re.compile(r"^\s*Version:\s*VyOS\s+(\S+)", re.MULTILINE)
_TRAIN = re.compile(r"^\s*Release train:\s*(\S+)", re.MULTILINE)
_TRAINS: dict[str, VyosVersion] = {"equuleus": "1.3", "sagitta": "1.4", "circinus": "1.5"}
_OLDER = ("1.0", "1.1", "1.2")


def vyos_version(show_version: str) -> VyosVersion:
    """ "1.3" / "1.4" / "1.5"; ParseError for anything else (never guessed)."""
    found = _VERSION.search(show_version)
    if found is None:
        raise ParseError("not `show version` output of VyOS (no 'Version: VyOS ...' line)")
    release = found.group(1)
    major_minor = ".".join(re.split(r"[.-]", release)[:2])
    for known in VYOS_VERSIONS:
        if major_minor == known:
            return known
    if major_minor in _OLDER:
        raise ParseError(
            f"VyOS {major_minor} is not rendered (1.3, 1.4, 1.5 are); pass --vyos to override"
        )
    train = _TRAIN.search(show_version)
    if train is not None and train.group(1).lower() in _TRAINS:
        return _TRAINS[train.group(1).lower()]
    raise ParseError(f"cannot tell the VyOS syntax of release {release!r}: pass --vyos")
