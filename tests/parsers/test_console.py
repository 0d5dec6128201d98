"""EC2 console host keys in the modern cloud-init form, fingerprints, host_key_matches."""

from __future__ import annotations

from dataclasses import dataclass

import asyncssh
import pytest

from tests.parsers._fixtures import fixture_names, fixture_text
from vpnwatch.errors import ParseError
from vpnwatch.model import ConsoleHostKeys
from vpnwatch.parsers import (
    fingerprint_md5,
    fingerprint_sha256,
    host_key_matches,
    parse_console_host_keys,
)


@dataclass(frozen=True)
class HostKey:
    key_type: str
    blob: str
    sha256: str  # computed by asyncssh, independently of the code under test
    md5: str


def _host_key(algorithm: str) -> HostKey:
    public = asyncssh.generate_private_key(algorithm).convert_to_public()
    key_type, blob = public.export_public_key("openssh").decode().split()[:2]
    return HostKey(
        key_type,
        blob,
        public.get_fingerprint("sha256"),
        public.get_fingerprint("md5").removeprefix("MD5:"),
    )


@pytest.fixture(scope="module")
def keys() -> dict[str, HostKey]:
    return {
        "ECDSA": _host_key("ecdsa-sha2-nistp256"),
        "ED25519": _host_key("ssh-ed25519"),
        "RSA": _host_key("ssh-rsa"),
    }


def _modern_console(keys: dict[str, HostKey], host: str = "ip-10-0-1-30") -> str:
    """cloud-init 22.x on VyOS/Debian: journal prefixes on the fingerprint lines."""
    bits = {"ECDSA": 256, "ED25519": 256, "RSA": 3072}
    fingerprint_lines = "".join(
        f"[   35.1{i}] cloud-init[1234]: ec2: {bits[t]} {k.sha256} root@{host} ({t})\n"
        for i, (t, k) in enumerate(keys.items())
    )
    key_lines = "".join(f"{k.key_type} {k.blob} root@{host}\n" for k in keys.values())
    return (
        "[   34.9] cloud-init[1234]: Cloud-init v. 22.4.2 running 'modules:final'\n"
        "[   35.0] cloud-init[1234]: ci-info: no authorized SSH keys fingerprints found\n"
        "[   35.1] cloud-init[1234]: ec2: #############################################\n"
        "[   35.1] cloud-init[1234]: ec2: -----BEGIN SSH HOST KEY FINGERPRINTS-----\n"
        + fingerprint_lines
        + "[   35.2] cloud-init[1234]: ec2: -----END SSH HOST KEY FINGERPRINTS-----\n"
        "[   35.2] cloud-init[1234]: ec2: #############################################\n"
        "-----BEGIN SSH HOST KEY KEYS-----\n" + key_lines + "-----END SSH HOST KEY KEYS-----\n"
        "[   35.3] cloud-init[1234]: Cloud-init v. 22.4.2 finished\n"
    )


def test_modern_console_with_prefixes_and_sha256(keys: dict[str, HostKey]) -> None:
    parsed = parse_console_host_keys(_modern_console(keys))
    assert dict(parsed.fingerprints) == {t: k.sha256 for t, k in keys.items()}
    assert dict(parsed.keys) == {k.key_type: k.blob for k in keys.values()}


def test_fingerprint_helpers_agree_with_openssh(keys: dict[str, HostKey]) -> None:
    for key in keys.values():
        assert fingerprint_sha256(key.blob) == key.sha256
        assert fingerprint_md5(key.blob) == key.md5


def test_last_complete_block_wins(keys: dict[str, HostKey]) -> None:
    old = _host_key("ssh-ed25519")
    first_boot = _modern_console({"ED25519": old})
    second_boot = _modern_console(keys)
    cut_third = "-----BEGIN SSH HOST KEY KEYS-----\nssh-ed25519 " + old.blob[:20] + "\n"
    parsed = parse_console_host_keys(first_boot + second_boot + cut_third)
    assert parsed.keys["ssh-ed25519"] == keys["ED25519"].blob


def test_host_key_matches(keys: dict[str, HostKey]) -> None:
    ed = keys["ED25519"]
    stranger = _host_key("ssh-ed25519")
    full = parse_console_host_keys(_modern_console(keys))
    assert host_key_matches(full, "ssh-ed25519", ed.blob)
    assert not host_key_matches(full, "ssh-ed25519", stranger.blob)
    assert not host_key_matches(full, "ssh-rsa", ed.blob)
    assert not host_key_matches(full, "ssh-ed25519", "not base64 !!")
    fingerprints_only = ConsoleHostKeys(fingerprints={"ED25519": ed.sha256}, keys={})
    assert host_key_matches(fingerprints_only, "ssh-ed25519", ed.blob)
    md5_only = ConsoleHostKeys(fingerprints={"ED25519": ed.md5}, keys={})
    assert host_key_matches(md5_only, "ssh-ed25519", ed.blob)
    assert not host_key_matches(md5_only, "ssh-ed25519", stranger.blob)
    # The printed key and the printed fingerprint disagree: do not trust either.
    contradictory = ConsoleHostKeys(
        fingerprints={"ED25519": stranger.sha256}, keys={"ssh-ed25519": ed.blob}
    )
    assert not host_key_matches(contradictory, "ssh-ed25519", ed.blob)
    assert not host_key_matches(ConsoleHostKeys({}, {}), "ssh-ed25519", ed.blob)


def test_fixture_keys_match_their_printed_md5_fingerprints() -> None:
    (name,) = fixture_names("console-output")
    parsed = parse_console_host_keys(fixture_text(name))
    for key_type, blob in parsed.keys.items():
        fingerprints_only = ConsoleHostKeys(fingerprints=parsed.fingerprints, keys={})
        assert host_key_matches(fingerprints_only, key_type, blob)


def test_user_keys_table_alone_is_not_host_keys() -> None:
    (name,) = fixture_names("console-output")
    text = fixture_text(name)
    authorized_table_only = text[: text.index("ec2: -----BEGIN")]
    assert "Authorized keys" in authorized_table_only
    with pytest.raises(ParseError, match="no complete"):
        parse_console_host_keys(authorized_table_only)


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda t, k: t.replace(k["RSA"].blob, k["RSA"].blob[:-40]), "truncated|wrong shape"),
        (lambda t, k: t.replace(k["ED25519"].blob, k["ECDSA"].blob, 1), "another type"),
        (lambda t, k: t[: t.index("-----END SSH HOST KEY FINGERPRINTS")], "no complete"),
        (lambda t, k: t.replace(f"({'RSA'})", "(ED25519)"), "two different fingerprints"),
        (lambda t, k: "", "no complete"),
    ],
)
def test_bad_consoles(keys: dict[str, HostKey], mutate: object, reason: str) -> None:
    assert callable(mutate)
    with pytest.raises(ParseError, match=reason):
        parse_console_host_keys(mutate(_modern_console(keys), keys))


def test_lines_interleaved_into_the_block_are_ignored(keys: dict[str, HostKey]) -> None:
    text = _modern_console(keys).replace(
        "-----BEGIN SSH HOST KEY KEYS-----\n",
        "-----BEGIN SSH HOST KEY KEYS-----\n[   35.25] random: crng init done\n",
    )
    assert len(parse_console_host_keys(text).keys) == 3
