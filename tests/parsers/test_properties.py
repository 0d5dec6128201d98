"""Properties: nothing but ParseError escapes a parser; the config round trip holds."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.parsers._fixtures import fixture_names, fixture_text
from vpnwatch.errors import ParseError
from vpnwatch.parsers import (
    parse_aws_vyatta_config,
    parse_bgp_summary,
    parse_config,
    parse_console_host_keys,
    parse_ike_sa,
    parse_ipsec_sa,
    render_config_boot,
    strip_sections,
)

PARSERS: list[Callable[[str], Any]] = [
    parse_bgp_summary,
    parse_ike_sa,
    parse_ipsec_sa,
    parse_console_host_keys,
    parse_config,
    parse_aws_vyatta_config,
]
FIXTURES = {name: fixture_text(name) for name in fixture_names()}


def parse_or_reject(text: str) -> int:
    """Run every parser; each must return a value or raise ParseError. Returns the successes."""
    successes = 0
    for parser in PARSERS:
        try:
            parser(text)
        except ParseError as error:
            assert str(error) and "\n" not in str(error)
        else:
            successes += 1
    return successes


# Words the parsers look for, so random soups reach deep into the grammars.
VOCABULARY = [
    "Neighbor",
    "V",
    "AS",
    "MsgRcvd",
    "MsgSent",
    "TblVer",
    "InQ",
    "OutQ",
    "Up/Down",
    "State/PfxRcd",
    "PfxSnt",
    "Desc",
    "4",
    "65000",
    "4200000000",
    "1.10",
    "never",
    "00:07:36",
    "1d02h03m",
    "01w4d01h",
    "Idle",
    "(Admin)",
    "(Policy)",
    "NoNeg",
    "N/A",
    "robot(10.0.0.1)",
    "*10.0.0.2",
    "IPv4 Unicast Summary:",
    "BGP router identifier 1.1.1.1, local AS number 1",
    "Total number of neighbors 1",
    "Peer ID / IP",
    "Local ID / IP",
    "------",
    "Tunnel",
    "State",
    "Bytes Out/In",
    "Bytes In/Out",
    "IKEVer",
    "Encrypt",
    "Hash",
    "D-H Grp",
    "A-Time",
    "L-Time",
    "up",
    "down",
    "n/a",
    "21.7K/0.0",
    "23K/0B",
    "3m28s",
    "Connection",
    "Uptime",
    "Remote address",
    "Description:",
    "[edit]",
    "{",
    "}",
    '"',
    "'",
    "/*",
    "*/",
    "//",
    "set",
    "interfaces",
    "vti",
    "vti0",
    "address",
    "'169.254.1.2/30'",
    "peer",
    "1.2.3.4",
    "bgp",
    "neighbor",
    "remote-as",
    "-----BEGIN SSH HOST KEY KEYS-----",
    "-----END SSH HOST KEY KEYS-----",
    "-----BEGIN SSH HOST KEY FINGERPRINTS-----",
    "-----END SSH HOST KEY FINGERPRINTS-----",
    "ssh-ed25519",
    "AAAAC3NzaC1lZDI1NTE5AAAAIA",
    "256",
    "(ED25519)",
    "SHA256:" + "A" * 43,
    "% Unknown command.",
    "ec2:",
    "\t",
    "",
]


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_arbitrary_text(text: str) -> None:
    parse_or_reject(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.sampled_from(VOCABULARY), max_size=12), max_size=15))
def test_token_soup(lines: list[list[str]]) -> None:
    parse_or_reject("\n".join("  ".join(line) for line in lines))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "peers",
                    "state",
                    "remoteAs",
                    "pfxRcd",
                    "peerUptime",
                    "peerUptimeMsec",
                    "routerId",
                    "as",
                    "desc",
                    "x",
                ]
            ),
            inner,
            max_size=5,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    json_values,
    st.sampled_from(
        [
            lambda v: v,
            lambda v: {"ipv4Unicast": v},
            lambda v: {"peers": {"1.1.1.1": v}},
            lambda v: {"ipv4Unicast": {"peers": {"eth1": v}}},
        ]
    ),
)
def test_arbitrary_json(value: Any, wrap: Callable[[Any], Any]) -> None:
    parse_or_reject(json.dumps(wrap(value)))


@st.composite
def mutated_fixture(draw: st.DrawFn) -> str:
    text = FIXTURES[draw(st.sampled_from(sorted(FIXTURES)))]
    for operation in draw(st.lists(st.integers(0, 6), min_size=1, max_size=4)):
        lines = text.splitlines(keepends=True)
        at = draw(st.integers(0, len(text)))
        line_at = draw(st.integers(0, max(len(lines) - 1, 0)))
        if operation == 0:  # truncation
            text = text[:at]
        elif operation == 1 and lines:  # line deletion
            del lines[line_at]
            text = "".join(lines)
        elif operation == 2:  # random bytes
            noise = draw(st.binary(max_size=16)).decode("latin-1")
            text = text[:at] + noise + text[at:]
        elif operation == 3:  # random text
            text = text[:at] + draw(st.text(max_size=16)) + text[at + 1 :]
        elif operation == 4 and lines:  # duplicated line
            lines.insert(line_at, lines[line_at])
            text = "".join(lines)
        elif operation == 5:  # whitespace mangling
            text = re.sub(r" {2,}", " ", text) if draw(st.booleans()) else text.replace(" ", "\t")
        elif operation == 6:  # a vocabulary word dropped in
            text = text[:at] + " " + draw(st.sampled_from(VOCABULARY)) + " " + text[at:]
    return text


@settings(max_examples=500, deadline=None)
@given(mutated_fixture())
def test_mutated_fixtures(text: str) -> None:
    parse_or_reject(text)


def test_every_fixture_parses_as_its_own_kind() -> None:
    """Sanity for the mutation test: the unmutated texts are accepted by some parser."""
    assert all(
        parse_or_reject(text) >= 1
        for name, text in FIXTURES.items()
        if not name.startswith("describe-vpn-connections")
    )


# ------------------------------------------------------------------ config round trip

WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-._:/", min_size=1, max_size=8)
TAG_WORDS = st.sampled_from(
    [
        "interfaces",
        "ethernet",
        "vti",
        "rule",
        "bgp",
        "65000",
        "neighbor",
        "peer",
        "group",
        "vrrp",
        "address",
        "system",
        "service",
        "10",
        "9",
    ]
)
VALUES = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=12
).filter(lambda value: not re.search(r"'\s", value))
STATEMENTS = st.lists(
    st.tuples(
        st.lists(
            st.one_of(WORDS.filter(lambda w: not w.startswith("//")), TAG_WORDS),
            min_size=2,
            max_size=6,
        ),  # VyOS top-level nodes always have children
        st.none() | VALUES,
    ),
    min_size=1,
    max_size=25,
)


def _set_line(path: list[str], value: str | None) -> str:
    return "set " + " ".join(path) + ("" if value is None else f" '{value}'")


@settings(max_examples=300, deadline=None)
@given(STATEMENTS)
def test_config_round_trip(statements: list[tuple[list[str], str | None]]) -> None:
    commands = parse_config("\n".join(_set_line(p, v) for p, v in statements)).commands
    assert commands
    assert parse_config("\n".join(commands)).commands == commands  # canonical is stable
    boot = render_config_boot(commands)
    again = parse_config(boot)
    assert (again.format, again.commands) == ("boot", commands)


@settings(max_examples=200, deadline=None)
@given(
    STATEMENTS,
    st.lists(
        st.sampled_from(["interfaces", "system", "interfaces ethernet", "bgp 65000", "service"]),
        max_size=3,
    ),
)
def test_strip_sections_partitions_the_commands(
    statements: list[tuple[list[str], str | None]], sections: list[str]
) -> None:
    commands = parse_config("\n".join(_set_line(p, v) for p, v in statements)).commands
    kept, removed = strip_sections(commands, sections)
    assert set(removed) <= set(sections)
    dropped = [c for c in commands if c not in kept]
    assert all(any(c.startswith(f"set {s} ") or c == f"set {s}" for s in removed) for c in dropped)
    assert not any(c.startswith(f"set {s} ") or c == f"set {s}" for c in kept for s in sections)
