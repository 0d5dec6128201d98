"""Small helpers shared by the router-output parsers (pure, no I/O)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from vpnwatch.errors import ParseError

T = TypeVar("T")


class UnsupportedCommand(ParseError):
    """The router answered "% Unknown command" (or similar): the command form is not supported.

    Lets the adapter tell "this router has no JSON form" from garbage and fall back.
    """


class EmptyOutput(ParseError):
    """The command printed nothing (some routers print nothing when there is nothing to show)."""


class ServiceNotRunning(ParseError):
    """The router says the service behind the command is not running / not configured."""


_UNSUPPORTED_RE = re.compile(
    r"^\s*(?:%\s*(?:Unknown command|Command incomplete|Ambiguous command|Invalid input"
    r"|There is no matched command)|(?:Invalid|Incomplete|Ambiguous) command\b)",
    re.IGNORECASE,
)

# ------------------------------------------------------------------ limits and positions

# Input size limits in characters, checked before parsing. Router output is capped by
# `ssh.max_output_bytes` (1 MiB by default) before it gets here; a VyOS config.boot is tens
# of KiB, large firewall configs a few MiB; EC2 console output is at most 64 KiB.
MAX_OUTPUT_CHARS = 4 * 1024 * 1024
MAX_CONFIG_CHARS = 4 * 1024 * 1024
MAX_CONSOLE_CHARS = 1024 * 1024
MAX_COLUMNS = 32  # op-mode tables have at most a dozen columns
# Characters no router output carries in a field: C0/C1 controls but tab/newline/CR, DEL,
# the Unicode replacement character (undecodable bytes), bidi overrides, line separators
# that str.splitlines() would split on, and a byte order mark.
_JUNK_RE = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd\ufeff\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)


def check_size(text: str, limit: int, kind: str) -> None:
    """Refuse input over `limit` characters before any parsing work."""
    if len(text) > limit:
        raise ParseError(
            f"input of {len(text)} characters is over the {limit}-character limit for {kind}"
        )


def position(text: str, offset: int, first_line: int = 1) -> str:
    """`line L, column C` (1-based) of a character offset in `text`."""
    line = text.count("\n", 0, offset) + first_line
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return f"line {line}, column {column}"


def check_characters(text: str, first_line: int = 1) -> None:
    """ParseError at the first control character (or other junk) in `text`."""
    match = _JUNK_RE.search(text)
    if match is not None:
        code = ord(match.group(0))
        raise ParseError(
            f"{position(text, match.start(), first_line)}: control or invalid character "
            f"U+{code:04X} (not router output)"
        )


@contextmanager
def at_line(number: int, column: int | None = None) -> Iterator[None]:
    """Prefix a ParseError raised inside with `line N[, column C]: ` (once)."""
    try:
        yield
    except ParseError as exc:
        if str(exc).startswith("line "):
            raise
        where = f"line {number}" + (f", column {column}" if column is not None else "")
        raise type(exc)(f"{where}: {exc}") from None


def cell(row: dict[str, str], name: str, convert: Callable[[str], T]) -> T:
    """`convert(row[name])`, a ParseError naming the column: `A-Time: expected a number`."""
    try:
        return convert(row.get(name, ""))
    except ParseError as exc:
        raise type(exc)(f"{name} column: {exc}") from None


def first_nonblank(text: str) -> tuple[int, str]:
    """(line number, stripped text) of the first non-blank line; (0, "") when none."""
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            return number, line.strip()
    return 0, ""


def first_nonblank_line(text: str) -> str:
    return first_nonblank(text)[1]


def is_unsupported_command(text: str) -> bool:
    """True when the output is the router refusing the command itself."""
    return bool(_UNSUPPORTED_RE.match(first_nonblank_line(text)))


def check_output(text: str, kind: str, limit: int = MAX_OUTPUT_CHARS) -> None:
    """Size and character checks, then the specific error for empty output or an "unknown
    command" answer."""
    check_size(text, limit, kind)
    check_characters(text)
    if not text.strip():
        raise EmptyOutput(f"empty output: not {kind} output")
    number, first = first_nonblank(text)
    if _UNSUPPORTED_RE.match(first):
        raise UnsupportedCommand(f"line {number}: the router does not support the command")


# VyOS 1.3 really prints "IPsec is not runing" (sic).
_NOT_RUNNING_RE = re.compile(r"\bnot (?:runn?ing|initiali[sz]ed|configured)\b", re.IGNORECASE)


def says_not_running(text: str) -> bool:
    return bool(_NOT_RUNNING_RE.search(first_nonblank_line(text)))


def check_service_running(text: str) -> None:
    """Raise ServiceNotRunning for "IPsec Process NOT Running"-style answers."""
    number, first = first_nonblank(text)
    if _NOT_RUNNING_RE.search(first):
        raise ServiceNotRunning(f"line {number}: the router says the service is not running")


# ------------------------------------------------------------------ durations

_FRR_CLOCK_RE = re.compile(r"^([0-9]{1,3}):([0-9]{2}):([0-9]{2})$")
_UNIT_SECONDS = {"y": 365 * 86400, "w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
_UNITS_RE = re.compile(r"^(?:[0-9]+[ywdhms])+$")
_UNIT_ORDER = "ywdhms"


def parse_unit_duration(text: str) -> int | None:
    """`1w2d03h`, `4d23h40m`, `3m28s`, `41s` → seconds; None when not such a duration.

    Units must appear at most once each and in decreasing order (y, w, d, h, m, s).
    """
    if not _UNITS_RE.match(text):
        return None
    total = 0
    last = -1
    for number, unit in re.findall(r"([0-9]+)([ywdhms])", text):
        position = _UNIT_ORDER.index(unit)
        if position <= last:
            return None
        last = position
        total += int(number) * _UNIT_SECONDS[unit]
    return total


def parse_frr_uptime(text: str) -> int | None:
    """FRR/Quagga Up/Down column: `hh:mm:ss`, `XdYYhZZm`, `XXwYdZZh`, `XXyYYwZd` → seconds.

    `never` → None. Anything else raises ParseError.
    """
    if text == "never":
        return None
    clock = _FRR_CLOCK_RE.match(text)
    if clock:
        hours, minutes, seconds = (int(g) for g in clock.groups())
        if minutes > 59 or seconds > 59:
            raise ParseError("bad uptime")
        return hours * 3600 + minutes * 60 + seconds
    seconds_total = parse_unit_duration(text)
    if seconds_total is None:
        raise ParseError("bad uptime")
    return seconds_total


def is_frr_uptime(text: str) -> bool:
    return text == "never" or bool(_FRR_CLOCK_RE.match(text)) or bool(_UNITS_RE.match(text))


def is_ip_address(text: str) -> bool:
    """An IPv4 or IPv6 address (with a `%zone` for a link-local one)."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def is_digits(text: str) -> bool:
    """ASCII digits only (str.isdigit() also accepts "²", which int() rejects)."""
    return text.isascii() and text.isdigit()


def int_or_none(text: str) -> int | None:
    """Digits → int; `n/a`, `N/A`, `-`, empty → None; anything else raises ParseError."""
    if is_digits(text):
        return int(text)
    if text.lower() in ("", "n/a", "-"):
        return None
    raise ParseError("expected a number")


def none_if_na(text: str) -> str | None:
    return None if text.lower() in ("", "n/a", "-") else text


def up_down_state(text: str) -> str:
    """VyOS IPsec/IKE state words → "up" | "down"."""
    word = text.lower()
    if word == "up":
        return "up"
    if word in ("down", "init", "connecting"):
        return "down"
    raise ParseError("unknown SA state")


# ------------------------------------------------------------------ column tables


@dataclass(frozen=True)
class Column:
    name: str
    start: int


def table_columns(header: str, rule: str) -> tuple[Column, ...]:
    """Columns of a `header` line underlined by a `---  ----` rule line.

    Names come from the header split on runs of 2+ spaces (names like "D-H Group" keep their
    single space), positions from the rule's dash runs; both must agree on the count.
    """
    names = [m.group(0) for m in re.finditer(r"\S+(?: \S+)*", header)]
    starts = [m.start() for m in re.finditer(r"-+", rule)]
    if len(names) > MAX_COLUMNS or len(starts) > MAX_COLUMNS:
        raise ParseError(f"table with more than {MAX_COLUMNS} columns: not router output")
    if len(names) != len(starts) or not names:
        raise ParseError("table header and rule line disagree")
    return tuple(Column(name, start) for name, start in zip(names, starts, strict=True))


def is_rule_line(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and set(stripped) <= {"-", " "}


def split_row(
    row: str, columns: tuple[Column, ...], may_be_empty: frozenset[str] = frozenset()
) -> dict[str, str]:
    """Cells of one table row keyed by column name.

    Cells never contain spaces in these tables, so whitespace tokens are the cells; when a row
    has fewer tokens than columns (an empty cell), each token goes to the column it starts in.
    Only the columns in `may_be_empty` may be empty: any other gap means a truncated row.
    """
    tokens = [(m.start(), m.group(0)) for m in re.finditer(r"\S+", row)]
    if len(tokens) > len(columns):
        raise ParseError("table row has more cells than columns")
    if len(tokens) == len(columns):
        return {c.name: tok for c, (_, tok) in zip(columns, tokens, strict=True)}
    cells = {c.name: "" for c in columns}
    taken: set[int] = set()
    for start, tok in tokens:
        index = max((i for i, c in enumerate(columns) if c.start <= start), default=0)
        if index in taken:
            raise ParseError(f"table row does not fit its columns (column {start + 1})")
        taken.add(index)
        cells[columns[index].name] = tok
    empty = [name for name, value in cells.items() if not value and name not in may_be_empty]
    if empty:
        raise ParseError(f"table row without {', '.join(empty)} (truncated?)")
    return cells


def split_peer_line(line: str, local_start: int) -> tuple[str, str | None]:
    """The `Peer ID / IP   Local ID / IP` value line → (peer, local).

    Each side is "IP" or "IP ID" (VyOS ≥ 1.4); the first word of each side is the address.
    """
    tokens = [(m.start(), m.group(0)) for m in re.finditer(r"\S+", line)]
    if len(tokens) == 2:
        return tokens[0][1], tokens[1][1]
    if len(tokens) == 4:
        return tokens[0][1], tokens[2][1]
    if len(tokens) == 1:
        return tokens[0][1], None
    local = [tok for start, tok in tokens if start >= local_start]
    remote = [tok for start, tok in tokens if start < local_start]
    if not remote or not local:
        raise ParseError("cannot split the peer / local line")
    return remote[0], local[0]
