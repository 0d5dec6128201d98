"""Small helpers shared by the router-output parsers (pure, no I/O)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from vpnwatch.errors import ParseError


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


def snippet(text: str, limit: int = 40) -> str:
    """A short single-line quote of router output for an error message."""
    text = text.strip()
    return repr(text if len(text) <= limit else text[:limit] + "...")


def first_nonblank_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def is_unsupported_command(text: str) -> bool:
    """True when the output is the router refusing the command itself."""
    return bool(_UNSUPPORTED_RE.match(first_nonblank_line(text)))


def check_output(text: str, kind: str) -> None:
    """Raise the specific error for empty output or an "unknown command" answer."""
    if not text.strip():
        raise EmptyOutput(f"empty output: not {kind} output")
    if is_unsupported_command(text):
        raise UnsupportedCommand(
            f"router does not support the command: {snippet(first_nonblank_line(text))}"
        )


# VyOS 1.3 really prints "IPsec is not runing" (sic).
_NOT_RUNNING_RE = re.compile(r"\bnot (?:runn?ing|initiali[sz]ed|configured)\b", re.IGNORECASE)


def says_not_running(text: str) -> bool:
    return bool(_NOT_RUNNING_RE.search(first_nonblank_line(text)))


def check_service_running(text: str) -> None:
    """Raise ServiceNotRunning for "IPsec Process NOT Running"-style answers."""
    first = first_nonblank_line(text)
    if _NOT_RUNNING_RE.search(first):
        raise ServiceNotRunning(f"router says {snippet(first)}")


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
            raise ParseError(f"bad uptime {snippet(text)}")
        return hours * 3600 + minutes * 60 + seconds
    seconds_total = parse_unit_duration(text)
    if seconds_total is None:
        raise ParseError(f"bad uptime {snippet(text)}")
    return seconds_total


def is_frr_uptime(text: str) -> bool:
    return text == "never" or bool(_FRR_CLOCK_RE.match(text)) or bool(_UNITS_RE.match(text))


def is_digits(text: str) -> bool:
    """ASCII digits only (str.isdigit() also accepts "²", which int() rejects)."""
    return text.isascii() and text.isdigit()


def int_or_none(text: str) -> int | None:
    """Digits → int; `n/a`, `N/A`, `-`, empty → None; anything else raises ParseError."""
    if is_digits(text):
        return int(text)
    if text.lower() in ("", "n/a", "-"):
        return None
    raise ParseError(f"expected a number, got {snippet(text)}")


def none_if_na(text: str) -> str | None:
    return None if text.lower() in ("", "n/a", "-") else text


def up_down_state(text: str) -> str:
    """VyOS IPsec/IKE state words → "up" | "down"."""
    word = text.lower()
    if word == "up":
        return "up"
    if word in ("down", "init", "connecting"):
        return "down"
    raise ParseError(f"unknown SA state {snippet(text)}")


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
    if len(names) != len(starts) or not names:
        raise ParseError(f"table header and rule line disagree: {snippet(header)}")
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
        raise ParseError(f"table row has more cells than columns: {snippet(row)}")
    if len(tokens) == len(columns):
        return {c.name: tok for c, (_, tok) in zip(columns, tokens, strict=True)}
    cells = {c.name: "" for c in columns}
    taken: set[int] = set()
    for start, tok in tokens:
        index = max((i for i, c in enumerate(columns) if c.start <= start), default=0)
        if index in taken:
            raise ParseError(f"table row does not fit its columns: {snippet(row)}")
        taken.add(index)
        cells[columns[index].name] = tok
    empty = [name for name, value in cells.items() if not value and name not in may_be_empty]
    if empty:
        raise ParseError(f"table row without {', '.join(empty)} (truncated?): {snippet(row)}")
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
        raise ParseError(f"cannot split peer / local line {snippet(line)}")
    return remote[0], local[0]
