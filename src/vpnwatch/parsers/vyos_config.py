"""VyOS configuration: config.boot (curly-brace tree) and `set` commands, one canonical form.

Canonical form = what `show configuration commands` prints: one `set` line per leaf value or
empty node, leaf values single-quoted (`set interfaces vti vti0 address '169.254.1.2/30'`),
node names and tag values bare, siblings sorted in natural order (`rule 10` before `rule 100`),
the values of a multi-value leaf in the order they were given, duplicates dropped.

In `set` form a quoted last word is a leaf value and a bare one a node (tag value or valueless
leaf), as VyOS prints them. config.boot spells tag nodes `peer 1.2.3.4 {`; `set` form does not
say which nodes are tag nodes, so `render_config_boot` uses a table of VyOS tag node names
(`_TAG_NODES`); whichever way it renders a node, parsing the result gives back the commands.
Errors never quote config lines (they hold pre-shared keys): they give line numbers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from vpnwatch.errors import ParseError
from vpnwatch.model import RouterConfig
from vpnwatch.parsers._util import is_digits

Path = tuple[str, ...]
Statement = tuple[Path, str | None]  # (node path, leaf value or None)

# Nodes whose children are tag values (`ethernet eth0 {`). Context-free except `bgp`, a tag
# node only in VyOS <= 1.3 (`bgp 65000 {`), and `group`, a tag node only under vrrp.
_TAG_NODE_WORDS = (
    "ethernet vti dummy loopback bonding bridge tunnel wireguard openvpn pppoe vxlan "
    "pseudo-ethernet l2tpv3 geneve macsec virtual-ethernet wireless input sstpc wwan vif vif-s "
    "vif-c neighbor peer-group network aggregate-address route route6 interface-route "
    "interface-route6 next-hop interface area profile route-map rule prefix-list prefix-list6 "
    "access-list access-list6 as-path-list community-list extcommunity-list "
    "large-community-list name ipv6-name address-group network-group port-group "
    "interface-group domain-group mac-group peer esp-group ike-group proposal psk "
    "shared-network-name subnet static-mapping range domain server user public-keys host-name "
    "task host file facility sync-group virtual-server real-server ca certificate key-pair "
    "community parameter zone from class prefix connection pool"
)
_TAG_NODES = frozenset(_TAG_NODE_WORDS.split())
_SESSION_WORDS = frozenset({"configure", "commit", "save", "exit", "end"})
_SAFE_BOOT_VALUE_RE = re.compile(r"[A-Za-z0-9._:/@+\-,=%$!?^~|<>()&\[\]*]+")
_BAD_WORD_RE = re.compile(r"[\s'\"{}]")


@dataclass
class _Node:
    children: dict[str, _Node] = field(default_factory=dict)
    values: list[str] = field(default_factory=list)

    def child(self, word: str) -> _Node:
        return self.children.setdefault(word, _Node())


def parse_config(text: str) -> RouterConfig:
    """config.boot or `set` commands → RouterConfig(format, canonical commands)."""
    config_format, statements = config_statements(text)
    return RouterConfig(format=config_format, commands=canonical_commands(statements))


def config_statements(text: str) -> tuple[str, list[Statement]]:
    """("boot" | "commands", statements in input order).

    config.boot always has `node {` lines (VyOS top-level nodes are never leaves); `set`
    commands never end a line with `{`.
    """
    meaningful = [
        stripped
        for stripped in (line.strip() for line in text.splitlines())
        if stripped and stripped[0] not in "!#" and stripped != "[edit]"
    ]
    if any(line.endswith("{") for line in meaningful):
        return "boot", _parse_boot(text)
    if any(line.split()[0] == "set" for line in meaningful):
        return "commands", _parse_set_text(text)
    if not meaningful:
        raise ParseError("no configuration statements (empty or only comments)")
    raise ParseError("neither set commands nor a config.boot tree")


def canonical_commands(statements: Sequence[Statement]) -> tuple[str, ...]:
    tree = _Node()
    for path, value in statements:
        node = tree
        for word in path:
            node = node.child(word)
        if value is not None and value not in node.values:
            node.values.append(value)
    return tuple(_format_command(path, value) for path, value in _walk(tree))


def _walk(tree: _Node) -> Iterator[Statement]:
    """Canonical statements of a tree: depth first, siblings in natural order (no recursion)."""
    stack: list[tuple[Path, _Node]] = [((), tree)]
    while stack:
        path, node = stack.pop()
        for value in node.values:
            yield path, value
        if path and not node.values and not node.children:
            yield path, None
        for word in sorted(node.children, key=natural_key, reverse=True):
            stack.append(((*path, word), node.children[word]))


def natural_key(word: str) -> tuple[tuple[tuple[int, int, str], ...], str]:
    """Sort key comparing digit runs as numbers: `rule 9` < `rule 10` < `rule 100`."""
    parts = re.findall(r"[0-9]+|[^0-9]+", word)
    return tuple((0, int(p), "") if p[0] in "0123456789" else (1, 0, p) for p in parts), word


def _format_command(path: Path, value: str | None) -> str:
    words = " ".join(path)
    return f"set {words}" if value is None else f"set {words} '{value}'"


# ------------------------------------------------------------------ set form


def _parse_set_text(text: str) -> list[Statement]:
    statements: list[Statement] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped[0] in "!#" or stripped == "[edit]":
            continue
        if stripped.split()[0] in _SESSION_WORDS:
            continue
        statements.append(parse_set_command(stripped, number))
    return statements


def parse_set_command(line: str, number: int = 1) -> Statement:
    """`set a b c 'value'` → (("a", "b", "c"), "value"); `set a b` → (("a", "b"), None)."""
    words: list[tuple[str, bool]] = []  # (word, was quoted)
    position = 0
    while position < len(line):
        if line[position].isspace():
            position += 1
            continue
        if line[position] in "'\"":
            end = _closing_quote(line, position, number)
            words.append((line[position + 1 : end], True))
            position = end + 1
        else:
            match = re.compile(r"\S+").match(line, position)
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
        _check_word(word, number)
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


def _check_word(word: str, number: int) -> None:
    if not word or _BAD_WORD_RE.search(word) or word.startswith(("/*", "//")) or word == "[edit]":
        raise ParseError(f"line {number}: invalid node name in configuration path")


def _check_value(value: str, number: int) -> None:
    """Values must survive the one-line `set ... 'value'` form."""
    if (value and value.splitlines() != [value]) or re.search(r"'\s", value):
        raise ParseError(f"line {number}: value cannot be written as a set command")


# ------------------------------------------------------------------ config.boot form

_Token = tuple[str, str, int]  # (kind: word|quoted|{|}|nl, text, line number)


def _boot_tokens(text: str) -> Iterator[_Token]:
    line = 1
    position = 0
    at_line_start = True
    while position < len(text):
        char = text[position]
        if char == "\n":
            yield "nl", "", line
            line += 1
            position += 1
            at_line_start = True
        elif char.isspace():
            position += 1
        elif text.startswith("/*", position):
            end = text.find("*/", position + 2)
            if end == -1:
                raise ParseError(f"line {line}: unterminated comment")
            line += text.count("\n", position, end)
            position = end + 2
        elif at_line_start and text.startswith("//", position):
            end = text.find("\n", position)
            position = len(text) if end == -1 else end
        elif char in "{}":
            yield char, char, line
            position += 1
            at_line_start = False
        elif char == '"':
            value, position = _quoted(text, position, line)
            yield "quoted", value, line
            at_line_start = False
        else:
            match = re.compile(r"[^\s{}]+").match(text, position)
            assert match is not None
            yield "word", match.group(0), line
            position = match.end()
            at_line_start = False


def _quoted(text: str, start: int, line: int) -> tuple[str, int]:
    chars: list[str] = []
    position = start + 1
    while position < len(text):
        char = text[position]
        if char == "\\" and position + 1 < len(text) and text[position + 1] in '"\\':
            chars.append(text[position + 1])
            position += 2
        elif char == '"':
            return "".join(chars), position + 1
        elif char == "\n":
            break
        else:
            chars.append(char)
            position += 1
    raise ParseError(f"line {line}: unterminated quoted value")


def _parse_boot(text: str) -> list[Statement]:
    # `[edit]` is the prompt trailer of `show` in configuration mode, not configuration.
    text = "\n".join("" if line.strip() == "[edit]" else line for line in text.split("\n"))
    tokens = list(_boot_tokens(text))
    statements: list[Statement] = []
    path: list[str] = []
    depths: list[int] = []  # path length to restore at each "}"
    index = 0
    while index < len(tokens):
        kind, word, line = tokens[index]
        if kind == "nl":
            index += 1
            continue
        if kind == "}":
            if not depths:
                raise ParseError(f"line {line}: '}}' without a matching '{{'")
            del path[depths.pop() :]
            index += 1
            continue
        if kind != "word":
            raise ParseError(f"line {line}: expected a node name")
        _check_word(word, line)
        after = tokens[index + 1] if index + 1 < len(tokens) else ("nl", "", line)
        if after[0] == "{":
            depths.append(len(path))
            path.append(word)
            statements.append((tuple(path), None))
            index += 2
        elif after[0] in ("nl", "}"):
            statements.append(((*path, word), None))
            index += 1
        else:
            value = after[1]
            closing = tokens[index + 2] if index + 2 < len(tokens) else ("nl", "", line)
            if closing[0] == "{":
                _check_word(value, line)
                depths.append(len(path))
                path.extend((word, value))
                statements.append((tuple(path), None))
                index += 3
            elif closing[0] in ("nl", "}"):
                _check_value(value, line)
                statements.append(((*path, word), value))
                index += 2
            else:
                raise ParseError(f"line {line}: more than one value after a node name")
    if depths:
        raise ParseError("unbalanced braces: the configuration ends inside a node (truncated?)")
    if not statements:
        raise ParseError("no configuration statements")
    return statements


# ------------------------------------------------------------------ rendering and helpers


def _boot_value(value: str) -> str:
    if _SAFE_BOOT_VALUE_RE.fullmatch(value) and not value.startswith("/"):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _is_tag_node(parent: Path, word: str, node: _Node) -> bool:
    if node.values or not node.children or any(c.values for c in node.children.values()):
        return False
    if word == "bgp":
        return all(is_digits(child) for child in node.children)
    if word == "group":
        return parent[-1:] == ("vrrp",)
    return word in _TAG_NODES and bool(parent)


def render_config_boot(commands: Sequence[str]) -> str:
    """Canonical `set` commands → config.boot text (4-space indent, VyOS tag-node spelling).

    `parse_config(render_config_boot(c)).commands == c` for canonical command lists `c` of a
    VyOS-shaped configuration (top-level nodes have children). ParseError for a line that is
    not a `set` command.
    """
    tree = _Node()
    for number, command in enumerate(commands, start=1):
        path, value = parse_set_command(command, number)
        node = tree
        for word in path:
            node = node.child(word)
        if value is not None and value not in node.values:
            node.values.append(value)
    out: list[str] = []
    # Work items: a finished line, or (indent, parent path, node name, node) to render.
    stack: list[str | tuple[int, Path, str, _Node]] = [
        (0, (), word, tree.children[word])
        for word in sorted(tree.children, key=natural_key, reverse=True)
    ]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
            continue
        indent, parent, name, node = item
        pad = " " * indent
        out.extend(f"{pad}{name} {_boot_value(value)}" for value in node.values)
        if not node.children:
            if not node.values:
                out.append(f"{pad}{name}")
            continue
        entries: list[tuple[str, Path, _Node]]
        if _is_tag_node(parent, name, node):
            entries = [
                (f"{name} {tag}", (*parent, name, tag), node.children[tag])
                for tag in sorted(node.children, key=natural_key)
            ]
        else:
            entries = [(name, (*parent, name), node)]
        for head, path, entry in reversed(entries):
            stack.append(f"{pad}}}")
            stack.extend(
                (indent + 4, path, word, entry.children[word])
                for word in sorted(entry.children, key=natural_key, reverse=True)
            )
            stack.append(f"{pad}{head} {{")
    return "\n".join(out) + "\n"


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
