"""Hostile input: deep nesting, huge inputs, control characters, invalid addresses, non-finite
JSON numbers and secrets are parse errors that name a position, never data, never a quote.

Time and memory budgets live in benchmarks/parse_hostile.py, not here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.parsers._fixtures import fixture_names, fixture_text
from vpnwatch.errors import ParseError
from vpnwatch.lab.vpn_details import new_psk
from vpnwatch.parsers import (
    LIMITS,
    MAX_CONFIG_DEPTH,
    parse_aws_vyatta_config,
    parse_bgp_summary,
    parse_config,
    parse_console_host_keys,
    parse_ike_sa,
    parse_ipsec_sa,
)
from vpnwatch.parsers.vyos_config import natural_key

PARSERS: dict[str, Callable[[str], Any]] = {
    "bgp-summary": parse_bgp_summary,
    "ike-sa": parse_ike_sa,
    "ipsec-sa": parse_ipsec_sa,
    "console-host-keys": parse_console_host_keys,
    "config": parse_config,
    "aws-vyatta-config": parse_aws_vyatta_config,
}


def rejected(parser: Callable[[str], Any], text: str) -> str:
    with pytest.raises(ParseError) as caught:
        parser(text)
    message = str(caught.value)
    assert message and "\n" not in message
    return message


def deep_boot(levels: int) -> str:
    return "a {\n" * levels + "b c\n" + "}\n" * levels


# ---------------------------------------------------------------- 1. nesting and size


@pytest.mark.parametrize("levels", [MAX_CONFIG_DEPTH + 1, 10_000, 100_000])
def test_deep_config_nesting_is_a_parse_error_at_its_line(levels: int) -> None:
    message = rejected(parse_config, deep_boot(levels))
    assert f"line {MAX_CONFIG_DEPTH + 1}:" in message and "nested deeper than" in message


def test_the_deepest_allowed_config_parses() -> None:
    config = parse_config(deep_boot(MAX_CONFIG_DEPTH))
    assert config.commands == ("set " + "a " * MAX_CONFIG_DEPTH + "b 'c'",)


def test_a_set_command_with_a_huge_path_is_a_parse_error() -> None:
    message = rejected(parse_config, "set " + "a " * 10_000 + "\n")
    assert message.startswith("line 1:") and "path" in message


def test_a_leaf_with_many_values_keeps_them_all_once() -> None:
    lines = [f"set a b 'v{i}'" for i in range(20_000)] * 2
    assert len(parse_config("\n".join(lines)).commands) == 20_000


@pytest.mark.parametrize("kind", sorted(PARSERS))
def test_input_over_the_size_limit_is_refused_before_parsing(kind: str) -> None:
    limit = LIMITS[kind]
    message = rejected(PARSERS[kind], "x" * (limit + 1))
    assert f"{limit + 1} characters" in message and str(limit) in message


def test_too_many_columns_is_a_parse_error() -> None:
    header = "  ".join(f"C{i}" for i in range(5000))
    rule = "  ".join("--" for _ in range(5000))
    text = f"Connection  State  Uptime  {header}\n----------  -----  ------  {rule}\n"
    assert "columns" in rejected(parse_ipsec_sa, text)


# ---------------------------------------------------------------- 8. junk is not data

BGP_TEXT = fixture_text("bgp-summary/vyos14-frr9-desc-f5-lab.txt")
BGP_JSON = fixture_text("bgp-summary-json/frr-pr7594-idle-admin.txt")
IKE_TEXT = fixture_text("ike-sa/vyos14-doc-site2site-route-peer2-ikev2.txt")
IPSEC_TABLE = fixture_text("ipsec-sa/vyos14-doc-site2site-route-vti.txt")
IPSEC_PERL = fixture_text("ipsec-sa/vyos11-ami-aws-vpc-two-vti-description.txt")
CONFIG_COMMANDS = fixture_text("config-commands/vyos14-doc-site2site-route-based-peer1-vti.txt")


@pytest.mark.parametrize(
    ("parser", "text", "old", "new"),
    [
        (parse_bgp_summary, BGP_TEXT, "10.1.10.5", "10.1.10.5\x00"),
        (parse_bgp_summary, BGP_TEXT, "10.1.10.5", "10.1.10.\ufffd"),
        (parse_bgp_summary, BGP_TEXT, "10.1.10.5", "\x1b[31m10.1.10.5\x1b[0m"),
        (parse_ike_sa, IKE_TEXT, "10.0.1.2", "10.0.\x001.2"),
        (parse_ipsec_sa, IPSEC_TABLE, "PEER1-vti", "PEER1\x07vti"),
        (parse_ipsec_sa, IPSEC_PERL, "207.171.167.234", "207.171.167.234\u202e"),
        (parse_config, CONFIG_COMMANDS, "PEER2", "PE\x00ER2"),
        (parse_config, CONFIG_COMMANDS, "PEER2", "PE\x1b[0mER2"),
    ],
)
def test_control_characters_are_parse_errors_with_their_position(
    parser: Callable[[str], Any], text: str, old: str, new: str
) -> None:
    assert old in text
    bad = text.replace(old, new, 1)
    message = rejected(parser, bad)
    line = bad[: bad.index(new)].count("\n") + 1
    assert f"line {line}, column " in message and "character" in message


def test_an_ansi_coloured_count_is_not_a_bgp_state() -> None:
    row = next(line for line in BGP_TEXT.splitlines() if line.startswith("10.1.10.5"))
    coloured = re.sub(r"(\s)(\d+)(\s+\d+\s+\S+)$", "\\1\x1b[32m\\2\x1b[0m\\3", row)
    assert coloured != row
    assert "character" in rejected(parse_bgp_summary, BGP_TEXT.replace(row, coloured))


@pytest.mark.parametrize("state", ["Borked", "Idle(Admin)x", "5x", "Up (Admin)"])
def test_an_unknown_bgp_state_is_a_parse_error(state: str) -> None:
    row = next(line for line in BGP_TEXT.splitlines() if line.startswith("10.1.10.5"))
    fields = row.split()
    bad_row = row.replace(f" {fields[9]} ", f" {state} ", 1)
    assert bad_row != row
    message = rejected(parse_bgp_summary, BGP_TEXT.replace(row, bad_row))
    assert "state" in message.lower() and state not in message


@pytest.mark.parametrize("address", ["999.1.1.1", "10.1.10.256", "10.1.10", "fe80:::1", "lorem"])
def test_an_invalid_neighbor_address_is_a_parse_error(address: str) -> None:
    message = rejected(parse_bgp_summary, BGP_TEXT.replace("10.1.10.5", address, 1))
    assert "line 8, column 1: " in message and "neighbor" in message
    doc = json.loads(BGP_JSON)
    peers = doc["ipv4Unicast"]["peers"]
    peers[address] = peers.pop(next(iter(peers)))
    assert "neighbor" in rejected(parse_bgp_summary, json.dumps(doc))


def test_interface_and_hostname_neighbors_are_still_neighbors() -> None:
    unnumbered = parse_bgp_summary(
        fixture_text("bgp-summary/vyos13-doc-bgp-unnumbered-routerA.txt")
    )
    assert [n.neighbor for n in unnumbered.neighbors] == ["eth1", "eth2"]
    bad = BGP_TEXT.replace("10.1.10.5", "robot(10.1.10.300)", 1)
    assert "neighbor" in rejected(parse_bgp_summary, bad)


@pytest.mark.parametrize(
    ("parser", "text", "old", "new"),
    [
        (parse_ike_sa, IKE_TEXT, "10.0.1.2 10.0.1.2", "10.0.1.999 10.0.1.2"),
        (parse_ipsec_sa, IPSEC_PERL, "207.171.167.234", "207.171.167"),
        (parse_ipsec_sa, IPSEC_TABLE, "10.0.1.2   ", "10.0.1.x   "),
    ],
)
def test_an_invalid_peer_address_is_a_parse_error(
    parser: Callable[[str], Any], text: str, old: str, new: str
) -> None:
    assert old in text
    message = rejected(parser, text.replace(old, new, 1))
    assert "line " in message and "address" in message


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"])
def test_non_finite_json_numbers_are_parse_errors(constant: str) -> None:
    text = BGP_JSON.replace('"pfxRcd":0', f'"pfxRcd":{constant}')
    assert text != BGP_JSON
    message = rejected(parse_bgp_summary, text)
    assert "JSON" in message and "finite" in message


@pytest.mark.parametrize(
    ("field", "value"),
    [("pfxRcd", "-1"), ("pfxRcd", '"12"'), ("peerUptimeMsec", "1.5"), ("remoteAs", "true")],
)
def test_json_numbers_of_the_wrong_kind_are_parse_errors(field: str, value: str) -> None:
    text = re.sub(rf'"{field}":[^,\n]+', f'"{field}":{value}', BGP_JSON, count=1)
    assert text != BGP_JSON
    assert field in rejected(parse_bgp_summary, text)


def test_deeply_nested_json_is_a_parse_error() -> None:
    assert "JSON" in rejected(parse_bgp_summary, '{"a":' * 50_000 + "1" + "}" * 50_000)


# ---------------------------------------------------------------- 3. no secret in any error


def secret_lines(secret: str) -> list[str]:
    return [
        f"secret {secret}",
        f"secret '{secret}'",
        f"    pre-shared-secret {secret}",
        f"set vpn ipsec authentication psk p secret '{secret}'",
        f"{secret}",
        f"{secret} {secret} {secret} 4 65000 0 0 0 0 0 never Active",
        f"Neighbor {secret}",
        f"Peer ID / IP {secret}",
        f"Connection  {secret}",
        f'{{"peers": {{"{secret}": {{"state": "{secret}"}}}}}}',
        f"-----BEGIN SSH HOST KEY KEYS-----\nssh-ed25519 {secret}\n-----END SSH HOST KEY KEYS-----",
    ]


@pytest.mark.parametrize("kind", sorted(PARSERS))
def test_parse_errors_never_quote_the_input(kind: str) -> None:
    """A router whose output carries a secret (`secret ...` first, or anywhere) gets a parse
    error naming a position and a kind of problem; the message never holds the secret."""
    secret = new_psk()
    bases = ["", *(fixture_text(n) for n in fixture_names() if not n.startswith("describe"))]
    for base in bases:
        for line in secret_lines(secret):
            for text in (
                f"{line}\n{base}",
                f"{base}\n{line}\n",
                base.replace("\n", f"\n{line}\n", 3),
            ):
                try:
                    PARSERS[kind](text)
                except ParseError as error:
                    message = str(error)
                    assert secret not in message, (kind, line, message)
                    assert secret[:12] not in message, (kind, line, message)


# ---------------------------------------------------------------- properties


@settings(max_examples=60, deadline=None)
@given(
    depth=st.integers(1, 20_000),
    words=st.lists(st.sampled_from(["a", "peer 1.2.3.4", "rule 10", "x"]), min_size=1),
    close=st.booleans(),
)
def test_any_nesting_depth_answers_data_or_a_parse_error(
    depth: int, words: list[str], close: bool
) -> None:
    opening = "".join(f"{words[i % len(words)]} {{\n" for i in range(depth))
    text = opening + "leaf 'v'\n" + ("}\n" * depth if close else "")
    try:
        config = parse_config(text)
    except ParseError as error:
        assert "line " in str(error) or "braces" in str(error)
    else:
        assert depth <= MAX_CONFIG_DEPTH and close
        assert len(config.commands) == 1


@settings(max_examples=15, deadline=None)
@given(
    name=st.sampled_from(sorted(n for n in fixture_names() if not n.startswith("describe"))),
    copies=st.integers(1, 3000),
    kind=st.sampled_from(sorted(PARSERS)),
)
def test_large_inputs_answer_data_or_a_parse_error(name: str, copies: int, kind: str) -> None:
    text = fixture_text(name) * copies
    try:
        PARSERS[kind](text)
    except ParseError as error:
        quoted = [ln.strip() for ln in text.splitlines() if len(ln.strip()) > 12]
        assert not any(line in str(error) for line in quoted[:200]), str(error)


def _tuple_natural_key(word: str) -> tuple[tuple[tuple[int, int, str], ...], str]:
    """The readable definition the compact string key must agree with."""
    parts = re.findall(r"[0-9]+|[^0-9]+", word)
    return tuple((0, int(p), "") if p[0] in "0123456789" else (1, 0, p) for p in parts), word


@settings(max_examples=300)
@given(st.lists(st.text(alphabet="0123456789ab.-/:", min_size=1, max_size=10), max_size=20))
def test_the_compact_natural_key_sorts_like_the_tuple_key(words: list[str]) -> None:
    assert sorted(words, key=natural_key) == sorted(words, key=_tuple_natural_key)
