"""config.boot's grammar as a stream of events (no I/O): tokens by regex runs, two tokens of
lookahead, a nesting-depth cap. `vyos_config` builds its tree from the events."""

from __future__ import annotations

import re
from collections.abc import Iterator

from vpnwatch.errors import ParseError

Path = tuple[str, ...]
Statement = tuple[Path, str | None]  # (node path, leaf value or None)

# VyOS configurations nest a handful of levels (`firewall ipv4 name X rule N destination
# group address-group` is 7); deeper is not a router's configuration.
MAX_CONFIG_DEPTH = 64
_BAD_WORD_RE = re.compile(r"[\s'\"{}]")


def check_word(word: str, number: int) -> None:
    if not word or _BAD_WORD_RE.search(word) or word.startswith(("/*", "//")) or word == "[edit]":
        raise ParseError(f"line {number}: invalid node name in configuration path")


def check_value(value: str, number: int) -> None:
    """Values must survive the one-line `set ... 'value'` form."""
    if (value and value.splitlines() != [value]) or re.search(r"'\s", value):
        raise ParseError(f"line {number}: value cannot be written as a set command")


_Token = tuple[str, str, int]  # (kind: word|quoted|{|}|nl, text, line number)
# One regex run per token: the tokenizer loops per token, never per character.
_BOOT_TOKEN_RE = re.compile(
    r"(?P<nl>\n)|(?P<space>[^\S\n]+)|(?P<comment>/\*)|(?P<slashes>//)|(?P<brace>[{}])"
    r"|(?P<quoted>\"(?:[^\"\\\n]|\\[\"\\]|\\(?![\"\\]))*\")|(?P<quote>\")|(?P<word>[^\s{}]+)"
)
_BOOT_WORD_RE = re.compile(r"[^\s{}]+")
_ESCAPE_RE = re.compile(r'\\(["\\])')
_EDIT_LINE_RE = re.compile(r"^[^\S\n]*\[edit\][^\S\n]*$", re.MULTILINE)


def _boot_tokens(text: str) -> Iterator[_Token]:
    line = 1
    position = 0
    at_line_start = True
    while position < len(text):
        match = _BOOT_TOKEN_RE.match(text, position)
        assert match is not None  # every character starts one of the alternatives
        kind = match.lastgroup
        if kind == "nl":
            yield "nl", "", line
            line += 1
            at_line_start = True
        elif kind == "comment":
            end = text.find("*/", position + 2)
            if end == -1:
                raise ParseError(f"line {line}: unterminated comment")
            line += text.count("\n", position, end)
            position = end + 2
            continue
        elif kind == "slashes" and at_line_start:
            end = text.find("\n", position)
            position = len(text) if end == -1 else end
            continue
        elif kind == "slashes":  # `//` inside a line starts an ordinary word
            match = _BOOT_WORD_RE.match(text, position)
            assert match is not None
            yield "word", match.group(0), line
            at_line_start = False
        elif kind == "brace":
            yield match.group(0), match.group(0), line
            at_line_start = False
        elif kind == "quoted":
            yield "quoted", _ESCAPE_RE.sub(r"\1", match.group(0)[1:-1]), line
            at_line_start = False
        elif kind == "quote":
            raise ParseError(f"line {line}: unterminated quoted value")
        elif kind == "word":
            yield "word", match.group(0), line
            at_line_start = False
        position = match.end()


class _Lookahead:
    """The boot grammar needs two tokens of lookahead; the token stream is never a list."""

    def __init__(self, tokens: Iterator[_Token]) -> None:
        self._tokens = tokens
        self._buffer: list[_Token] = []

    def peek(self, offset: int, line: int) -> _Token:
        while len(self._buffer) <= offset:
            token = next(self._tokens, None)
            if token is None:
                return ("nl", "", line)
            self._buffer.append(token)
        return self._buffer[offset]

    def take(self, count: int) -> None:
        del self._buffer[:count]


# config.boot as events: ("open", words) enters a node (`node {` or `tag value {`), ("close",
# ()) leaves it, ("leaf", words) is a node without braces: (name,) or (name, value).
BootEvent = tuple[str, tuple[str, ...]]


def boot_events(text: str) -> Iterator[BootEvent]:
    # `[edit]` is the prompt trailer of `show` in configuration mode, not configuration.
    ahead = _Lookahead(_boot_tokens(_EDIT_LINE_RE.sub("", text)))
    depth = 0
    any_statement = False
    while True:
        kind, word, line = ahead.peek(0, 0)
        if line == 0:  # the end of the tokens
            break
        if kind == "nl":
            ahead.take(1)
            continue
        if kind == "}":
            if depth == 0:
                raise ParseError(f"line {line}: '}}' without a matching '{{'")
            depth -= 1
            yield "close", ()
            ahead.take(1)
            continue
        if kind != "word":
            raise ParseError(f"line {line}: expected a node name")
        check_word(word, line)
        any_statement = True
        after = ahead.peek(1, line)
        if after[0] == "{":
            depth = _deeper(depth, line)
            yield "open", (word,)
            ahead.take(2)
        elif after[0] in ("nl", "}"):
            yield "leaf", (word,)
            ahead.take(1)
        else:
            value = after[1]
            closing = ahead.peek(2, line)
            if closing[0] == "{":
                check_word(value, line)
                depth = _deeper(depth, line)
                yield "open", (word, value)
                ahead.take(3)
            elif closing[0] in ("nl", "}"):
                check_value(value, line)
                yield "leaf", (word, value)
                ahead.take(2)
            else:
                raise ParseError(f"line {line}: more than one value after a node name")
    if depth:
        raise ParseError("unbalanced braces: the configuration ends inside a node (truncated?)")
    if not any_statement:
        raise ParseError("no configuration statements")


def boot_statements(events: Iterator[BootEvent]) -> Iterator[Statement]:
    path: list[str] = []
    sizes: list[int] = []  # how many words each open node added
    for kind, words in events:
        if kind == "open":
            path.extend(words)
            sizes.append(len(words))
            yield tuple(path), None
        elif kind == "close":
            del path[len(path) - sizes.pop() :]
        elif len(words) == 1:
            yield (*path, words[0]), None
        else:
            yield (*path, words[0]), words[1]


def _deeper(depth: int, line: int) -> int:
    if depth >= MAX_CONFIG_DEPTH:
        raise ParseError(f"line {line}: configuration nested deeper than {MAX_CONFIG_DEPTH} levels")
    return depth + 1
