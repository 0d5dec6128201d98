"""`vpnwatch parse KIND [FILE]`: parse router output from FILE or stdin and print JSON.

At most the kind's limit is read (`LIMITS`, as bytes): a bigger input is refused with exit 3
before anything is parsed, and reading never holds more than the limit plus one byte.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, BinaryIO

from vpnwatch.errors import ParseError
from vpnwatch.parsers import LIMITS
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
EXIT_BUG = 1
EXIT_UNREADABLE = 2
EXIT_NOT_THAT_OUTPUT = 3


def _read_capped(stream: BinaryIO, limit: int) -> bytes:
    """Up to `limit + 1` bytes: enough to tell "too big" without holding a big input."""
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = stream.read(min(1 << 20, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def run_parse(kind: str, path: str | None) -> int:
    """Exit 0 and JSON on stdout; 3 when the input is not KIND output (or over the size
    limit); 2 when unreadable. Errors are one line on stderr, never a traceback."""
    parser = PARSERS.get(kind)
    if parser is None:
        print(f"vpnwatch parse: unknown kind {kind!r}", file=sys.stderr)
        return EXIT_UNREADABLE
    limit = LIMITS[kind]
    try:
        if path is None:
            raw = _read_capped(sys.stdin.buffer, limit)
        else:
            with open(path, "rb") as stream:
                raw = _read_capped(stream, limit)
    except OSError as error:
        print(f"vpnwatch parse: cannot read {path}: {error.strerror or error}", file=sys.stderr)
        return EXIT_UNREADABLE
    if len(raw) > limit:
        print(
            f"vpnwatch parse: {kind}: input of more than {limit} bytes is over the limit",
            file=sys.stderr,
        )
        return EXIT_NOT_THAT_OUTPUT
    try:
        result = parser(raw.decode("utf-8", errors="replace"))  # U+FFFD: a parse error
    except ParseError as error:
        reason = " ".join(str(error).split())
        print(f"vpnwatch parse: {kind}: {reason}", file=sys.stderr)
        return EXIT_NOT_THAT_OUTPUT
    except Exception as error:  # a bug: one line, its type only (its text may quote input)
        print(f"vpnwatch parse: {kind}: internal error ({type(error).__name__})", file=sys.stderr)
        return EXIT_BUG
    try:
        print(json.dumps(asdict(result), indent=2, sort_keys=True))
    except BrokenPipeError:  # `vpnwatch parse ... | head`
        return EXIT_OK
    return EXIT_OK
