"""A VyOS configuration tree: set/delete by path, config.boot and set-command rendering.

The tree is untyped (nested nodes keyed by the path words); the schema gives it meaning.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from vpnwatch.lab.vyos_sim.formats import Version, natural_key
from vpnwatch.lab.vyos_sim.schema import Kind, SchemaNode, schema_for, validate_value


class ConfigPathError(Exception):
    """A `set`/`delete`/load line the router refuses; `lines` is what VyOS prints."""

    def __init__(self, lines: Sequence[str]) -> None:
        self.lines = tuple(lines)
        super().__init__(" | ".join(self.lines))


@dataclass
class CfgNode:
    children: dict[str, CfgNode] = field(default_factory=dict)
    values: list[str] = field(default_factory=list)

    def clone(self) -> CfgNode:
        return CfgNode({k: v.clone() for k, v in self.children.items()}, list(self.values))

    def get(self, *path: str) -> CfgNode | None:
        node: CfgNode | None = self
        for word in path:
            node = node.children.get(word) if node is not None else None
        return node

    def value(self, *path: str) -> str | None:
        node = self.get(*path)
        return node.values[0] if node is not None and node.values else None

    def values_at(self, *path: str) -> list[str]:
        node = self.get(*path)
        return list(node.values) if node is not None else []

    def keys(self, *path: str) -> list[str]:
        node = self.get(*path)
        return sorted(node.children, key=natural_key) if node is not None else []


@dataclass(frozen=True)
class _Step:
    key: str
    schema: SchemaNode
    role: str  # "node" | "tags" (tag container) | "entry" | "leaf" | "flag"


def _invalid(tokens: Sequence[str]) -> ConfigPathError:
    return ConfigPathError([f"Configuration path: [{' '.join(tokens)}] is not valid"])


def _bad_value(reason: str) -> ConfigPathError:
    return ConfigPathError([reason, "", "Value validation failed"])


def _resolve(schema: SchemaNode, tokens: Sequence[str]) -> tuple[list[_Step], str | None]:
    """The schema steps of `tokens` and, for a leaf, its value (validated)."""
    steps: list[_Step] = []
    node = schema
    i = 0
    while i < len(tokens):
        child = node.children.get(tokens[i])
        if child is None:
            raise _invalid(tokens)
        rest = len(tokens) - i - 1
        if child.kind is Kind.TAG:
            steps.append(_Step(tokens[i], child, "tags"))
            if rest == 0:
                return steps, None
            reason = validate_value(str(child.value_type), tokens[i + 1])
            if reason is not None:
                raise _bad_value(reason)
            steps.append(_Step(tokens[i + 1], child, "entry"))
            node, i = child, i + 2
        elif child.kind is Kind.NODE:
            steps.append(_Step(tokens[i], child, "node"))
            node, i = child, i + 1
        elif child.kind is Kind.FLAG:
            if rest != 0:
                raise _invalid(tokens)
            steps.append(_Step(tokens[i], child, "flag"))
            return steps, None
        else:
            if rest > 1:
                raise _invalid(tokens)
            steps.append(_Step(tokens[i], child, "leaf"))
            if rest == 0:
                return steps, None
            reason = validate_value(str(child.value_type), tokens[i + 1])
            if reason is not None:
                raise _bad_value(reason)
            return steps, tokens[i + 1]
    return steps, None


class ConfigTree:
    """One configuration (running, candidate or boot) of one VyOS version."""

    def __init__(self, version: Version, root: CfgNode | None = None) -> None:
        self.version = version
        self.schema = schema_for(version)
        self.root = root if root is not None else CfgNode()

    def copy(self) -> ConfigTree:
        return ConfigTree(self.version, self.root.clone())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ConfigTree) and self.root == other.root

    __hash__ = None  # type: ignore[assignment]

    # ---------------------------------------------------------------- editing

    def set(self, tokens: Sequence[str]) -> None:
        steps, value = _resolve(self.schema, tokens)
        if not steps:
            raise _invalid(tokens)
        last = steps[-1]
        if last.role == "tags" or (last.role == "leaf" and value is None):
            raise ConfigPathError([f"Configuration path: [{' '.join(tokens)}] requires a value"])
        node = self.root
        for step in steps:
            node = node.children.setdefault(step.key, CfgNode())
        if value is not None:
            if last.schema.kind is Kind.LEAF:
                node.values = [value]
            elif value not in node.values:
                node.values.append(value)

    def delete(self, tokens: Sequence[str]) -> None:
        steps, value = _resolve(self.schema, tokens)
        if not steps:
            raise _invalid(tokens)
        chain = [self.root]
        for step in steps:
            child = chain[-1].children.get(step.key)
            if child is None:
                raise ConfigPathError(["Nothing to delete (the specified node does not exist)"])
            chain.append(child)
        if value is not None:
            if value not in chain[-1].values:
                raise ConfigPathError(["Nothing to delete (the specified value does not exist)"])
            chain[-1].values.remove(value)
            if chain[-1].values:
                return
        del chain[-2].children[steps[-1].key]
        # VyOS drops plain nodes and tag containers left empty; tag entries stay.
        for index in range(len(steps) - 2, -1, -1):
            step, node = steps[index], chain[index + 1]
            if step.role == "entry" or node.children or node.values:
                break
            del chain[index].children[step.key]

    def merge(self, other: ConfigTree) -> None:
        for tokens in other.paths():
            self.set(tokens)

    # ---------------------------------------------------------------- reading

    def paths(self) -> Iterator[list[str]]:
        """Every leaf value, valueless leaf and childless node as a `set` word list."""
        yield from _paths(self.root, self.schema, [])

    def commands(self) -> list[str]:
        """`show configuration commands`: one `set ...` line per value, VyOS quoting."""
        lines: list[str] = []
        for words, value in _leaf_items(self.root, self.schema, []):
            line = "set " + " ".join(_quote_word(w) for w in words)
            lines.append(line if value is None else f"{line} {_quote_set_value(value)}")
        return lines

    def boot_text(self, *, margin: str = "") -> str:
        """config.boot form; `margin=" "` gives the op-mode `show configuration` layout."""
        lines: list[str] = []
        _render(self.root, self.schema, 0, margin, lines)
        return "".join(line + "\n" for line in lines)


def _sorted_children(node: CfgNode) -> list[str]:
    return sorted(node.children, key=natural_key)


def _paths(node: CfgNode, schema: SchemaNode, prefix: list[str]) -> Iterator[list[str]]:
    for words, value in _leaf_items(node, schema, prefix):
        yield words if value is None else [*words, value]


def _leaf_items(
    node: CfgNode, schema: SchemaNode, prefix: list[str]
) -> Iterator[tuple[list[str], str | None]]:
    for name in _sorted_children(node):
        child, spec = node.children[name], schema.children[name]
        path = [*prefix, name]
        if spec.kind in (Kind.LEAF, Kind.MULTI):
            for value in child.values:
                yield path, value
        elif spec.kind is Kind.FLAG:
            yield path, None
        elif spec.kind is Kind.NODE:
            if child.children:
                yield from _leaf_items(child, spec, path)
            else:
                yield path, None
        else:
            for tag in _sorted_children(child):
                entry = child.children[tag]
                if entry.children:
                    yield from _leaf_items(entry, spec, [*path, tag])
                else:
                    yield [*path, tag], None


def _render(node: CfgNode, schema: SchemaNode, depth: int, margin: str, out: list[str]) -> None:
    pad = margin + "    " * depth
    for name in _sorted_children(node):
        child, spec = node.children[name], schema.children[name]
        if spec.kind in (Kind.LEAF, Kind.MULTI):
            out.extend(f"{pad}{name} {quote_boot_value(v)}" for v in child.values)
        elif spec.kind is Kind.FLAG:
            out.append(f"{pad}{name}")
        elif spec.kind is Kind.NODE:
            out.append(f"{pad}{name} {{")
            _render(child, spec, depth + 1, margin, out)
            out.append(f"{pad}}}")
        else:
            for tag in _sorted_children(child):
                out.append(f"{pad}{name} {quote_boot_value(tag)} {{")
                _render(child.children[tag], spec, depth + 1, margin, out)
                out.append(f"{pad}}}")


_PLAIN = re.compile(r"[^\s\"'{};#\\]+")


def quote_boot_value(value: str) -> str:
    if _PLAIN.fullmatch(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _quote_word(word: str) -> str:
    return word if _PLAIN.fullmatch(word) else _quote_set_value(word)


def _quote_set_value(value: str) -> str:
    return f'"{value}"' if "'" in value else f"'{value}'"


_WORD = re.compile(r"""(?:[^\s'"\\]+|'[^']*'|"(?:[^"\\]|\\.)*"|\\.)+""")
_PIECE = re.compile(r"""'([^']*)'|"((?:[^"\\]|\\.)*)"|\\(.)|([^'"\\]+)""")
_DQ_ESCAPE = re.compile(r"""\\([\\"$`])""")


def split_words(line: str) -> list[str]:
    """Shell-style words (quotes and backslashes as bash treats them); ValueError when a
    quote is not closed. A fast stand-in for shlex.split on config lines."""
    if _WORD.sub("", line).strip():
        raise ValueError("No closing quotation")
    words = _WORD.findall(line)
    return ["".join(_unquote(m) for m in _PIECE.finditer(word)) for word in words]


def _unquote(piece: re.Match[str]) -> str:
    single, double, escaped, plain = piece.groups()
    if single is not None:
        return single
    if double is not None:
        return _DQ_ESCAPE.sub(r"\1", double)
    return escaped if escaped is not None else plain


def parse_boot_text(text: str) -> list[list[str]]:
    """The `set` word lists of a config.boot (or `show configuration`) text.

    Raises ConfigPathError with a one-line reason when the text is not in that form.
    """
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.DOTALL)
    paths: list[list[str]] = []
    stack: list[list[str]] = [[]]
    filled: list[bool] = [True]
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("//"):
            continue
        if line == "}":
            if len(stack) == 1:
                raise ConfigPathError([f"Syntax error on line {number}: unexpected '}}'"])
            if not filled.pop():
                paths.append(stack[-1])
            stack.pop()
            continue
        opens = line.endswith("{")
        try:
            words = split_words(line[:-1] if opens else line)
        except ValueError:
            raise ConfigPathError([f"Syntax error on line {number}: unbalanced quotes"]) from None
        if not 1 <= len(words) <= 2:
            raise ConfigPathError([f"Syntax error on line {number}: not a config statement"])
        filled[-1] = True
        if opens:
            stack.append([*stack[-1], *words])
            filled.append(False)
        else:
            paths.append([*stack[-1], *words])
    if len(stack) != 1:
        raise ConfigPathError(["Syntax error: missing '}' at end of file"])
    return paths


def tree_from_commands(version: Version, commands: Sequence[str]) -> ConfigTree:
    """A tree from `set ...` lines (the lab's own input: any refused line raises)."""
    tree = ConfigTree(version)
    for command in commands:
        words = split_words(command)
        if not words or words[0] != "set":
            raise ConfigPathError([f"not a set command: {command!r}"])
        tree.set(words[1:])
    return tree
