"""`vpnwatch parse KIND [FILE]` as a subprocess: exit codes, JSON on stdout, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.parsers._fixtures import FIXTURES

VPNWATCH = str(Path(sys.executable).parent / "vpnwatch")


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [VPNWATCH, "parse", *args], input=stdin, capture_output=True, text=True, timeout=60
    )


def test_fixture_file_to_json() -> None:
    path = FIXTURES / "bgp-summary" / "vyos14-frr9-desc-f5-lab.txt"
    result = run("bgp-summary", str(path))
    assert (result.returncode, result.stderr) == (0, "")
    document = json.loads(result.stdout)
    assert document["router_id"] == "10.255.255.1"
    assert document["local_as"] == 65540
    assert document["neighbors"][0] == {
        "neighbor": "10.1.10.5",
        "remote_as": 65541,
        "state": "Established",
        "prefixes_received": 1,
        "uptime_seconds": 8194,
        "address_family": "IPv4 Unicast",
        "description": "N/A",
    }


@pytest.mark.parametrize(
    ("kind", "directory", "top_key"),
    [
        ("ike-sa", "ike-sa", "ike_sas"),
        ("ipsec-sa", "ipsec-sa", "ipsec_sas"),
        ("console-host-keys", "console-output", "fingerprints"),
        ("config", "config-commands", "commands"),
    ],
)
def test_stdin_for_every_other_kind(kind: str, directory: str, top_key: str) -> None:
    text = next((FIXTURES / directory).glob("*.txt")).read_text()
    result = run(kind, stdin=text)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[top_key]


@pytest.mark.parametrize(
    ("kind", "text", "reason"),
    [
        ("bgp-summary", "hello world\n", "no BGP summary"),
        ("bgp-summary", '{"ipv4Unicast": {"peers": ', "invalid JSON"),
        ("bgp-summary", "% Unknown command.\n", "does not support the command"),
        ("ike-sa", "", "empty output"),
        ("ipsec-sa", "Connection State\n", "rule line"),
        ("console-host-keys", "login: \n", "no complete"),
        ("config", "interfaces {\n    ethernet eth0 {\n", "unbalanced braces"),
    ],
)
def test_not_that_kind_of_output_exits_3(kind: str, text: str, reason: str) -> None:
    result = run(kind, stdin=text)
    assert result.returncode == 3
    assert result.stdout == ""
    assert result.stderr.startswith(f"vpnwatch parse: {kind}: ")
    assert reason in result.stderr
    assert result.stderr.count("\n") == 1


def test_config_errors_do_not_echo_secrets() -> None:
    text = "set vpn ipsec site-to-site peer 1.2.3.4 authentication pre-shared-secret 'S3cr3t\n"
    result = run("config", stdin=text)
    assert result.returncode == 3
    assert "S3cr3t" not in result.stderr


def test_unreadable_file_exits_2(tmp_path: Path) -> None:
    result = run("bgp-summary", str(tmp_path / "missing.txt"))
    assert result.returncode == 2
    assert "cannot read" in result.stderr and result.stdout == ""


# ---------------------------------------------------------------- hostile input (issue 9)


def run_bytes(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([VPNWATCH, "parse", *args], input=stdin, capture_output=True, timeout=120)


def assert_one_line_error(result: subprocess.CompletedProcess[bytes], kind: str) -> str:
    err = result.stderr.decode()
    assert result.returncode == 3, err
    assert result.stdout == b""
    assert err.startswith(f"vpnwatch parse: {kind}: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


def test_ten_thousand_levels_of_nesting_exit_3_at_the_line_too_deep() -> None:
    deep = ("a {\n" * 10_000 + "b c\n" + "}\n" * 10_000).encode()
    err = assert_one_line_error(run_bytes("config", stdin=deep), "config")
    assert "line 65: configuration nested deeper than 64 levels" in err


@pytest.mark.parametrize("kind", ["config", "bgp-summary", "console-host-keys"])
def test_input_over_the_limit_is_refused_without_reading_it_all(kind: str) -> None:
    from vpnwatch.parsers import LIMITS

    err = assert_one_line_error(run_bytes(kind, "/dev/zero"), kind)  # endless input
    assert f"more than {LIMITS[kind]} bytes" in err
    big = b"x" * (LIMITS[kind] + 1)
    assert "over the limit" in assert_one_line_error(run_bytes(kind, stdin=big), kind)


@pytest.mark.parametrize(
    ("kind", "data", "reason"),
    [
        ("config", b"set interfaces ethernet eth0 address '\xff\xfe'\n", "line 1, column 39"),
        ("config", b"set system host-name 'a\x1b[31mb'\n", "U+001B"),
        ("bgp-summary", b'{"peers": {"10.0.0.1": {"state": "Active", "pfxRcd": NaN}}}', "finite"),
        ("bgp-summary", b'{"peers": {"10.0.0.1": {"state": "Active", "pfxRcd": 1e400}}}', "finite"),
    ],
)
def test_junk_is_exit_3_never_data(kind: str, data: bytes, reason: str) -> None:
    assert reason in assert_one_line_error(run_bytes(kind, stdin=data), kind)
