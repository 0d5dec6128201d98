"""`vpnwatch parse KIND [FILE]`: parse router output from FILE or stdin and print JSON."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from vpnwatch.errors import ParseError
from vpnwatch.parsers.bgp import parse_bgp_summary
from vpnwatch.parsers.console import parse_console_host_keys
from vpnwatch.parsers.ike import parse_ike_sa
from vpnwatch.parsers.ipsec import parse_ipsec_sa
from vpnwatch.parsers.vyos_config import parse_config

PARSERS: dict[str, Callable[[str], Any]] = {
    "bgp-summary": parse_bgp_summary,
    "ike-sa": parse_ike_sa,
    "ipsec-sa": parse_ipsec_sa,
    "console-host-keys": parse_console_host_keys,
    "config": parse_config,
}

EXIT_OK = 0
EXIT_UNREADABLE = 2
EXIT_NOT_THAT_OUTPUT = 3


def run_parse(kind: str, path: str | None) -> int:
    """Exit 0 and JSON on stdout; 3 when the input is not KIND output; 2 when unreadable."""
    parser = PARSERS.get(kind)
    if parser is None:
        print(f"vpnwatch parse: unknown kind {kind!r}", file=sys.stderr)
        return EXIT_UNREADABLE
    try:
        raw = sys.stdin.buffer.read() if path is None else Path(path).read_bytes()
    except OSError as error:
        print(f"vpnwatch parse: cannot read {path}: {error.strerror or error}", file=sys.stderr)
        return EXIT_UNREADABLE
    try:
        result = parser(raw.decode("utf-8", errors="replace"))
    except ParseError as error:
        reason = " ".join(str(error).split())
        print(f"vpnwatch parse: {kind}: {reason}", file=sys.stderr)
        return EXIT_NOT_THAT_OUTPUT
    print(json.dumps(asdict(result), indent=2, sort_keys=True))
    return EXIT_OK
