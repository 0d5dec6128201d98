"""Canonical `set` commands back to config.boot text (4-space indent, VyOS tag-node spelling)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from vpnwatch.parsers._util import is_digits
from vpnwatch.parsers.vyos_config import ConfigNode, natural_key, parse_set_command

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
_SAFE_BOOT_VALUE_RE = re.compile(r"[A-Za-z0-9._:/@+\-,=%$!?^~|<>()&\[\]*]+")


def _boot_value(value: str) -> str:
    if _SAFE_BOOT_VALUE_RE.fullmatch(value) and not value.startswith("/"):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _is_tag_node(parent: str | None, word: str, node: ConfigNode) -> bool:
    """`parent`: the last word of the parent's path (None at the top level)."""
    children = node.children
    if node.values or not children or any(c.values for c in children.values()):
        return False
    if word == "bgp":
        return all(is_digits(child) for child in children)
    if word == "group":
        return parent == "vrrp"
    return word in _TAG_NODES and parent is not None


def render_config_boot(commands: Sequence[str]) -> str:
    """Canonical `set` commands → config.boot text (4-space indent, VyOS tag-node spelling).

    `parse_config(render_config_boot(c)).commands == c` for canonical command lists `c` of a
    VyOS-shaped configuration (top-level nodes have children). ParseError for a line that is
    not a `set` command.
    """
    tree = ConfigNode()
    for number, command in enumerate(commands, start=1):
        tree.add(*parse_set_command(command, number))
    out: list[str] = []
    # Work items: a finished line, or (indent, parent's last word, node name, node).
    stack: list[str | tuple[int, str | None, str, ConfigNode]] = []
    _push_render(stack, 0, None, tree)
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
            continue
        indent, parent, name, node = item
        pad = " " * indent
        out.extend(f"{pad}{name} {_boot_value(value)}" for value in node.values or ())
        if not node.children:
            if not node.values:
                out.append(f"{pad}{name}")
            continue
        entries: list[tuple[str, str, ConfigNode]]
        if _is_tag_node(parent, name, node):
            children = node.children
            entries = [
                (f"{name} {tag}", tag, children[tag]) for tag in sorted(children, key=natural_key)
            ]
        else:
            entries = [(name, name, node)]
        for head, last, entry in reversed(entries):
            stack.append(f"{pad}}}")
            _push_render(stack, indent + 4, last, entry)
            stack.append(f"{pad}{head} {{")
    return "\n".join(out) + "\n"


def _push_render(
    stack: list[str | tuple[int, str | None, str, ConfigNode]],
    indent: int,
    last: str | None,
    node: ConfigNode,
) -> None:
    children = node.children or {}
    stack.extend(
        (indent, last, word, children[word])
        for word in sorted(children, key=natural_key, reverse=True)
    )
