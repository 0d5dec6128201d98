"""Every real-router fixture parses to what ground_truth.json says (one table-driven test)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.parsers._fixtures import fixture_names, fixture_text, ground_truth
from vpnwatch.parsers import (
    fingerprint_md5,
    fingerprint_sha256,
    parse_aws_vyatta_config,
    parse_bgp_summary,
    parse_config,
    parse_console_host_keys,
    parse_ike_sa,
    parse_ipsec_sa,
)

NOT_MINE = "describe-vpn-connections"  # the lead's parser
CASES = sorted(name for name in ground_truth() if not name.startswith(NOT_MINE))


def test_every_fixture_has_a_ground_truth_entry() -> None:
    assert set(fixture_names()) == set(ground_truth())
    assert len(CASES) == len(ground_truth()) - len(fixture_names(NOT_MINE)) > 25


def _expected_neighbor(name: str) -> str:
    # "robot(192.168.201.139)" is printed as hostname(ip): the neighbor is the address.
    match = re.fullmatch(r"[^()]+\(([^()]+)\)", name)
    return match.group(1) if match else name


def perl_conv_bytes(count: int) -> str:
    """vyatta-op-vpn OPMode.pm conv_bytes, to check a byte count against the printed text."""
    value, suffix = float(count), ""
    if 1024 < count < 1048576:
        value, suffix = count / 1024, "K"
    elif 1048576 <= count < 1073741824:
        value, suffix = count / 1048576, "M"
    elif count >= 1073741824:
        value, suffix = count / 1073741824, "G"
    return f"{value:.1f}{suffix}"


def _check_bgp(name: str, truth: dict[str, Any]) -> None:
    summary = parse_bgp_summary(fixture_text(name))
    fields = ["remote_as", "state", "prefixes_received", "uptime_seconds", "address_family"]
    if name.startswith("bgp-summary/"):
        fields.append("description")
    got = [
        {"neighbor": n.neighbor, **{f: getattr(n, f) for f in fields}} for n in summary.neighbors
    ]
    want = [
        {"neighbor": _expected_neighbor(n["neighbor"]), **{f: n[f] for f in fields}}
        for n in truth["neighbors"]
    ]
    assert got == want


def _check_ike(name: str, truth: dict[str, Any]) -> None:
    got = parse_ike_sa(fixture_text(name)).ike_sas
    want = truth["ike_sas"]
    assert [
        (s.peer, s.local, s.state, s.ike_version, s.encryption, s.hash, s.dh_group) for s in got
    ] == [
        (
            w["peer"],
            w["local"],
            w["state"],
            w["ike_version"],
            w["encrypt"],
            w["hash"],
            w["dh_group"],
        )
        for w in want
    ]
    assert [(s.uptime_seconds, s.lifetime_seconds) for s in got] == [
        (w["a_time"], w["l_time"]) for w in want
    ]


def _check_ipsec(name: str, truth: dict[str, Any]) -> None:
    got = parse_ipsec_sa(fixture_text(name)).ipsec_sas
    want = truth["sas"]
    assert len(got) == len(want)
    for sa, expected in zip(got, want, strict=True):
        assert sa.state == expected["state"]
        if "connection" in expected:  # VyOS >= 1.3 table: ranges given
            assert (sa.connection, sa.peer) == (expected["connection"], expected["remote_address"])
            assert sa.uptime_seconds == expected["uptime_seconds"]
            for direction in ("in", "out"):
                low, _high = expected[f"bytes_{direction}_range"]
                assert getattr(sa, f"bytes_{direction}") == low  # the lower bound
        else:  # Perl blocks: the count must print back as the router printed it
            tunnel = expected["tunnel"]
            assert sa.peer == expected["peer"]
            assert sa.connection == (f"peer-{expected['peer']}-tunnel-{tunnel}" if tunnel else None)
            assert sa.uptime_seconds == expected["a_time"]
            for direction in ("in", "out"):
                count = getattr(sa, f"bytes_{direction}")
                assert count is not None
                assert perl_conv_bytes(count) == expected[f"bytes_{direction}"]
                assert count == 0 or perl_conv_bytes(count - 1) != expected[f"bytes_{direction}"]


def _check_console(name: str, truth: dict[str, Any]) -> None:
    keys = parse_console_host_keys(fixture_text(name))
    assert dict(keys.fingerprints) == truth["fingerprints"]
    assert sorted(keys.keys) == sorted(truth["keys"])
    by_type = {"ecdsa-sha2-nistp256": "ECDSA", "ssh-ed25519": "ED25519", "ssh-rsa": "RSA"}
    for key_type, blob in keys.keys.items():
        assert fingerprint_sha256(blob) == truth["sha256_of_keys"][by_type[key_type]]
        assert fingerprint_md5(blob) == truth["fingerprints"][by_type[key_type]]


def _check_config(name: str, truth: dict[str, Any]) -> None:
    config = parse_config(fixture_text(name))
    commands = set(config.commands)
    assert config.format == "commands"
    bgp = truth["bgp"]
    if bgp is None:
        assert not any(c.startswith("set protocols bgp") for c in commands)
    else:
        asn = bgp["local_as"]
        for neighbor, remote_as in bgp["neighbors"].items():
            command = f"set protocols bgp {asn} neighbor {neighbor} remote-as '{remote_as}'"
            assert command in commands
    peer_prefix = "set vpn ipsec site-to-site peer"
    assert {c.split()[5] for c in commands if c.startswith(peer_prefix)} == {
        p["name"] for p in truth["ipsec_peers"]
    }
    for peer in truth["ipsec_peers"]:
        base = f"{peer_prefix} {peer['name']}"
        assert f"{base} remote-address '{peer['remote_address']}'" in commands
        assert f"{base} local-address '{peer['local_address']}'" in commands
        assert f"{base} vti bind '{peer['vti']}'" in commands
    for vti, address in truth["vti_addresses"].items():
        assert f"set interfaces vti {vti} address '{address}'" in commands


def _check_aws_vyatta(name: str, truth: dict[str, Any]) -> None:
    config = parse_aws_vyatta_config(fixture_text(name))
    assert config.local_as == truth["local_as"]
    fields = ["peer", "psk", "local_address", "vti", "vti_address", "bgp_neighbor", "neighbor_as"]
    assert [{f: getattr(t, f) for f in fields} for t in config.tunnels] == [
        {f: w[f] for f in fields} for w in truth["tunnels"]
    ]
    assert all(t.local_as == truth["local_as"] for t in config.tunnels)
    assert all(t.psk is not None and t.psk not in repr(t) for t in config.tunnels)
    assert parse_config(fixture_text(name)).format == "commands"


CHECKS = {
    "bgp-summary": _check_bgp,
    "bgp-summary-json": _check_bgp,
    "ike-sa": _check_ike,
    "ipsec-sa": _check_ipsec,
    "console-output": _check_console,
    "config-commands": _check_config,
    "aws-vyatta-config": _check_aws_vyatta,
}


@pytest.mark.parametrize("name", CASES)
def test_fixture_parses_to_its_ground_truth(name: str) -> None:
    CHECKS[name.split("/")[0]](name, ground_truth()[name])
