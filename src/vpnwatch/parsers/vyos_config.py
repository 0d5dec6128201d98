"""VyOS configuration: config.boot (curly-brace tree) and `set` commands, one canonical form.

Canonical form = what `show configuration commands` prints: one `set` line per leaf value or
empty node, leaf values single-quoted (`set interfaces vti vti0 address '169.254.1.2/30'`),
node names and tag values bare, siblings sorted in natural order (`rule 10` before `rule 100`),
the values of a multi-value leaf in the order they were given, duplicates dropped.

In `set` form a quoted last word is a leaf value and a bare one a node (tag value or valueless
leaf), as VyOS prints them. config.boot spells tag nodes `peer 1.2.3.4 {`; `set` form does not
say which nodes are tag nodes, so `render_config_boot` (vyos_render.py) uses a table of VyOS
tag node names; whichever way it renders a node, parsing the result gives back the commands.
Errors never quote config lines (they hold pre-shared keys): they give line numbers.

Bounded work: the input is at most `MAX_CONFIG_CHARS`, config.boot nests at most
`MAX_CONFIG_DEPTH` braces (a set path at most `MAX_PATH_WORDS` words), the canonical commands
come to at most `MAX_COMMANDS_CHARS`; tokens are regex runs and statements stream into the
tree, so time and memory are linear in the input.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence

from vpnwatch.errors import ParseError
from vpnwatch.model import RouterConfig
from vpnwatch.parsers._boot import (
    MAX_CONFIG_DEPTH,
    BootEvent,
    Path,
    boot_events,
    boot_statements,
    check_word,
)
from vpnwatch.parsers._boot import (
    Statement as Statement,  # re-exported: the renderer builds statements too
)
from vpnwatch.parsers._util import MAX_CONFIG_CHARS, check_characters, check_size

_SESSION_WORDS = frozenset({"configure", "commit", "save", "exit", "end"})
MAX_PATH_WORDS = 2 * MAX_CONFIG_DEPTH + 2  # tag nodes: `peer 1.2.3.4 {` is 2 words, 1 level
MAX_COMMANDS_CHARS = 8 * MAX_CONFIG_CHARS  # set form repeats each path: 2-4x in practice


class ConfigNode:
    """A config tree node; containers are made on first use (a large config is mostly
    leaves, and an empty dict costs more than the leaf itself)."""

    __slots__ = ("children", "values")

    def __init__(self) -> None:
        self.children: dict[str, ConfigNode] | None = None
        self.values: dict[str, None] | None = None  # ordered, no duplicates

    def child(self, word: str) -> ConfigNode:
        if self.children is None:
            self.children = {}
        node = self.children.get(word)
        if node is None:
            node = self.children[word] = ConfigNode()
        return node

    def add(self, path: Path, value: str | None) -> None:
        node = self
        for word in path:
            node = node.child(word)
        if value is not None:
            if node.values is None:
                node.values = {}
            node.values[value] = None


def parse_config(text: str) -> RouterConfig:
    """config.boot or `set` commands → RouterConfig(format, canonical commands)."""
    check_size(text, MAX_CONFIG_CHARS, "a configuration")
    config_format = _format(text)
    tree = ConfigNode()
    if config_format == "boot":
        _build_from_boot(tree, boot_events(text))
    else:
        for path, value in _parse_set_text(text):
            tree.add(path, value)
    return RouterConfig(format=config_format, commands=_canonical(tree))


def canonical_commands(statements: Iterable[Statement]) -> tuple[str, ...]:
    """Statements in any order → the canonical `set` commands (empty for none)."""
    tree = ConfigNode()
    for path, value in statements:
        tree.add(path, value)
    return _canonical(tree) if tree.children else ()


def config_statements(text: str) -> tuple[str, list[Statement]]:
    """("boot" | "commands", statements in input order). The caller checks the size."""
    config_format = _format(text)
    if config_format == "boot":
        return config_format, list(boot_statements(boot_events(text)))
    return config_format, list(_parse_set_text(text))


def _format(text: str) -> str:
    """The format, "boot" or "commands": config.boot always has `node {` lines (VyOS
    top-level nodes are never leaves); `set` commands never end a line with `{`."""
    check_characters(text)
    meaningful = (
        stripped
        for stripped in (line.strip() for line in text.splitlines())
        if stripped and stripped[0] not in "!#" and stripped != "[edit]"
    )
    commands, nothing = False, True
    for line in meaningful:
        nothing = False
        if line.endswith("{"):
            return "boot"
        commands = commands or line.split()[0] == "set"
    if commands:
        return "commands"
    if nothing:
        raise ParseError("no configuration statements (empty or only comments)")
    raise ParseError("neither set commands nor a config.boot tree")


def _canonical(tree: ConfigNode) -> tuple[str, ...]:
    commands: list[str] = []
    size = 0
    for command in _walk_commands(tree):
        size += len(command) + 1
        if size > MAX_COMMANDS_CHARS:
            raise ParseError(
                f"the configuration expands to more than {MAX_COMMANDS_CHARS} characters of "
                "set commands"
            )
        commands.append(command)
    if not commands:
        raise ParseError("no configuration statements")
    return tuple(commands)


def _walk_commands(tree: ConfigNode) -> Iterator[str]:
    """Canonical commands of a tree: depth first, siblings in natural order, no recursion.

    The stack holds (parent's command prefix, word, node): siblings share their parent's
    prefix string, so the stack costs a few pointers per node, never a path per node.
    """
    stack: list[tuple[str, str, ConfigNode]] = []
    _push_children(stack, "set", tree)
    while stack:
        parent, word, node = stack.pop()
        prefix = f"{parent} {word}"
        for value in node.values or ():
            yield f"{prefix} '{value}'"
        if not node.values and not node.children:
            yield prefix
        _push_children(stack, prefix, node)


def _push_children(stack: list[tuple[str, str, ConfigNode]], prefix: str, node: ConfigNode) -> None:
    if node.children:
        children = node.children
        stack.extend(
            (prefix, word, children[word])
            for word in sorted(children, key=natural_key, reverse=True)
        )


_DIGITS_RE = re.compile(r"[0-9]+")


def natural_key(word: str) -> str:
    """Sort key comparing digit runs as numbers: `rule 9` < `rule 10` < `rule 100`.

    One compact string (a big config sorts a million siblings; a tuple per part costs ten
    times the memory): a number is \\x01 + its length + its digits (leading zeros dropped),
    text is \\x02 + the text, and \\x00 + the word breaks ties (`01` after `1`). Digits
    sort before text at the same place, a key that is a prefix of another first.
    """
    parts: list[str] = []
    position = 0
    for match in _DIGITS_RE.finditer(word):
        if match.start() > position:
            parts.append("\x02" + word[position : match.start()])
        digits = match.group(0).lstrip("0") or "0"
        parts.append(f"\x01{chr(len(digits))}{digits}")
        position = match.end()
    if position < len(word):
        parts.append("\x02" + word[position:])
    return "".join(parts) + "\x00" + word


def _build_from_boot(tree: ConfigNode, events: Iterator[BootEvent]) -> None:
    """Events straight into the tree: a stack of nodes, O(1) per event at any depth."""
    stack = [tree]
    for kind, words in events:
        if kind == "open":
            node = stack[-1]
            for word in words:
                node = node.child(word)
            stack.append(node)
        elif kind == "close":
            stack.pop()
        elif len(words) == 1:
            stack[-1].child(words[0])
        else:
            stack[-1].child(words[0]).add((), words[1])


# ------------------------------------------------------------------ set form


def _parse_set_text(text: str) -> Iterator[Statement]:
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped[0] in "!#" or stripped == "[edit]":
            continue
        if stripped.split(maxsplit=1)[0] in _SESSION_WORDS:
            continue
        yield parse_set_command(stripped, number)


_WORD_RE = re.compile(r"\S+")


def parse_set_command(line: str, number: int = 1) -> Statement:
    """`set a b c 'value'` → (("a", "b", "c"), "value"); `set a b` → (("a", "b"), None)."""
    words: list[tuple[str, bool]] = []  # (word, was quoted)
    position = 0
    while position < len(line):
        if line[position].isspace():
            position += 1
            continue
        if len(words) > MAX_PATH_WORDS + 1:
            raise ParseError(
                f"line {number}: configuration path longer than {MAX_PATH_WORDS} words"
            )
        if line[position] in "'\"":
            end = _closing_quote(line, position, number)
            words.append((line[position + 1 : end], True))
            position = end + 1
        else:
            match = _WORD_RE.match(line, position)
            assert match is not None
            words.append((match.group(0), False))
            position = match.end()
    if not words or words[0] != ("set", False):
        raise ParseError(f"line {number}: not a set command")
    value: str | None = None
    if len(words) > 2 and words[-1][1]:
        value = words.pop()[0]
    path = tuple(word for word, _ in words[1:])
    if not path:
        raise ParseError(f"line {number}: set command without a path")
    for word in path:
        check_word(word, number)
    return path, value


def _closing_quote(line: str, start: int, number: int) -> int:
    """A quote closes a word only when followed by whitespace or the end of the line, so
    `'it's here'` is one value (VyOS prints values without escaping)."""
    quote = line[start]
    end = start
    while True:
        end = line.find(quote, end + 1)
        if end == -1:
            raise ParseError(f"line {number}: unterminated quote")
        if end + 1 == len(line) or line[end + 1].isspace():
            return end


def strip_sections(
    commands: Sequence[str], sections: Sequence[str]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Drop the subtrees named in `sections` (e.g. "interfaces ethernet eth0", "service").

    Returns (kept commands, the section names that were present and removed).
    """
    wanted = [(section, tuple(section.split())) for section in sections]
    kept: list[str] = []
    removed: list[str] = []
    for number, command in enumerate(commands, start=1):
        path, _ = parse_set_command(command, number)
        hit = next((name for name, words in wanted if words and path[: len(words)] == words), None)
        if hit is None:
            kept.append(command)
        elif hit not in removed:
            removed.append(hit)
    return tuple(kept), tuple(name for name, _ in wanted if name in removed)
