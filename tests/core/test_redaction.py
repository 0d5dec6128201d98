"""The one redaction function: what it masks (secrets) and what it leaves alone (prose)."""

from __future__ import annotations

import base64
import io
import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vpnwatch.lab.ssh_files import new_client_key
from vpnwatch.lab.vpn_details import new_psk
from vpnwatch.logs import configure_logging, get_logger, remember_environment_secrets
from vpnwatch.redaction import (
    REDACTED,
    forget_secrets,
    redact,
    redact_data,
    remember_secrets,
    secrets_in_commands,
)

# AWS's documented example secret access key and a session-token-like value.
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def random_aws_secret() -> str:
    while True:
        value = base64.b64encode(secrets.token_bytes(30)).decode()
        kinds = (str.islower, str.isupper, str.isdigit)
        if all(any(kind(c) for c in value) for kind in kinds):
            return value


@pytest.fixture(autouse=True)
def _empty_registry() -> Iterator[None]:
    forget_secrets()
    yield
    forget_secrets()


# ---------------------------------------------------------------- item 9: prose stays prose

UNCHANGED = [
    "Invalid public key (next attempt in 1.0s)",
    "r1: 127.0.0.1:22: connect timed out after 2s (next attempt in 4.0s)",
    "user 'vyos' was refused with the key /etc/vpnwatch/id_ed25519",
    "cannot load SSH key /etc/vpnwatch/id_ed25519: Passphrase must be specified",
    "host key of 127.0.0.1:2222 does not match known_hosts /etc/vpnwatch/known_hosts: "
    "presented ssh-ed25519 SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU, "
    "expected ssh-ed25519 SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s",
    "DescribeInstances: SignatureDoesNotMatch: The request signature we calculated does not "
    "match the signature you provided. Check your AWS Secret Access Key and signing method.",
    "aws.session_token: unknown key (check the spelling against config.example.yaml)",
    "ssh.key_file: file not found",
    "show vpn ike sa: line 1: not 'show vpn ike sa' output",
    "authentication mode 'pre-shared-secret'",
    "da39a3ee5e6b4b0d3255bfef95601890afd80709",  # a SHA-1 in hex: 40 characters, no secret
    "i-0123456789abcdef0 eipalloc-0a1b2c3d4e5f67890 vpn-0e1f2a3b4c5d6e7f8",
    "no action: 6/6 routers healthy",
    "a secret is never logged",
]


@pytest.mark.parametrize("text", UNCHANGED)
def test_prose_is_not_garbled(text: str) -> None:
    remember_secrets([new_psk()])  # a registry in use must not change that
    assert redact(text) == text


# ---------------------------------------------------------------- secrets, by form


@pytest.mark.parametrize(
    ("text", "secret", "kept"),
    [
        ("secret Zq8psk0123", "Zq8psk0123", "secret <redacted>"),
        ("    secret 'Zq8 psk 0123'\n", "Zq8 psk 0123", "secret <redacted>"),
        (
            "Configuration path: [vpn ipsec site-to-site peer 203.0.113.7 authentication "
            "pre-shared-secret Zq8-psk-xyz] is not valid | Set failed",
            "Zq8-psk-xyz",
            "pre-shared-secret <redacted>] is not valid | Set failed",
        ),
        (
            "set system login user vyos authentication plaintext-password 'hunter22'",
            "hunter22",
            "plaintext-password <redacted>",
        ),
        ("set interfaces wireguard wg0 private-key 'cHJpdmF0ZQ='", "cHJpdmF0ZQ=", "private-key"),
        ("radius-server {\n    key s3cretRadius\n}\n", "s3cretRadius", "key <redacted>"),
        ("AWS_SECRET_ACCESS_KEY=abcDEF123xyz", "abcDEF123xyz", "AWS_SECRET_ACCESS_KEY="),
        ('{"SecretAccessKey": "abcDEF123xyz"}', "abcDEF123xyz", '"SecretAccessKey": '),
        ("http://AKIAEXAMPLE:s3cr3tpass@127.0.0.1:5000/", "s3cr3tpass", "127.0.0.1:5000/"),
        (f"the key is {AWS_SECRET}.", AWS_SECRET, "the key is <redacted>."),
    ],
)
def test_secret_forms_are_masked(text: str, secret: str, kept: str) -> None:
    out = redact(text)
    assert secret not in out
    assert kept in out


def test_private_key_blocks_are_masked_whole_or_cut_short(tmp_path: Path) -> None:
    pem = new_client_key(tmp_path).private_file.read_text()
    body = [line for line in pem.splitlines() if line and not line.startswith("-----")]
    for text in (f"before\n{pem}after", f"before\n{pem[: len(pem) // 2]}"):
        out = redact(text)
        assert not any(line in out for line in body)
        assert out.startswith("before\n<redacted> private key")
    assert redact(f"x\n{pem}after").endswith("after")


def test_known_values_are_masked_anywhere() -> None:
    psk = new_psk()
    assert psk not in redact(f"prose {psk} more", known=[psk])
    assert psk in redact(f"prose {psk} more")  # 32 random characters: nothing to recognise
    remember_secrets([psk, "short"])  # under MIN_KNOWN_LENGTH: never registered
    assert redact(f"x{psk}y short") == f"x{REDACTED}y short"


def test_many_known_values_and_prefixes_of_each_other() -> None:
    values = [new_psk() for _ in range(2000)]
    remember_secrets(values)
    remember_secrets(["abcdefgh", "abcdefghij"])
    text = " ".join(values[::97]) + " abcdefghij abcdefgh"
    out = redact(text)
    assert not any(v in out for v in values)
    assert out.endswith(f"{REDACTED} {REDACTED}")


def test_the_environment_aws_secrets_are_known_from_the_start() -> None:
    token = base64.b64encode(secrets.token_bytes(300)).decode()
    remember_environment_secrets(
        {"AWS_SECRET_ACCESS_KEY": "Abc/def+ghi" * 3, "AWS_SESSION_TOKEN": token}
    )
    assert redact(f"sig {'Abc/def+ghi' * 3} tok {token}") == f"sig {REDACTED} tok {REDACTED}"


def test_secrets_in_commands_come_unquoted() -> None:
    commands = [
        "set vpn ipsec site-to-site peer 203.0.113.7 authentication pre-shared-secret 'Zq8-psk'",
        "set vpn ipsec authentication psk peer_1 secret 'psk with spaces'",
        "set vpn ipsec authentication psk peer_1 id '203.0.113.7'",
        "set interfaces ethernet eth0 address 'dhcp'",
    ]
    assert secrets_in_commands(commands) == {"Zq8-psk", "psk with spaces"}


def test_redact_data_masks_secret_names_and_every_string() -> None:
    data = {"psk": "anything", "nested": [{"password": 1}, f"x {AWS_SECRET}"], "port": 22}
    assert redact_data(data) == {
        "psk": REDACTED,
        "nested": [{"password": REDACTED}, f"x {REDACTED}"],
        "port": 22,
    }


def test_every_log_line_goes_through_it() -> None:
    psk = new_psk()
    remember_secrets([psk])
    out = io.StringIO()
    configure_logging("json", "info", stream=out)
    get_logger("t").warning(
        "Invalid public key (next attempt in 1.0s)",
        error=f"router said secret {psk}",
        psk="plain",
        detail={"list": [psk]},
    )
    line = json.loads(out.getvalue())
    assert psk not in out.getvalue() and "plain" not in out.getvalue()
    assert line["event"] == "Invalid public key (next attempt in 1.0s)"


# ---------------------------------------------------------------- properties

PROSE = st.lists(
    st.sampled_from(
        [
            *("router", "peer", "tunnel", "key", "public", "host", "the", "(next", "attempt"),
            *("in", "1.0s)", "failed:", "line", "3", "column", "9", "SHA256:47DEQpj8"),
            *("/etc/vpnwatch/id_ed25519", "10.0.0.1", "[edit]", "{}"),
        ]
    ),
    max_size=30,
).map(lambda words: "r1: " + " ".join(words))  # a line of its own `key X` is config.boot


@given(PROSE)
def test_prose_without_secrets_comes_back_unchanged(text: str) -> None:
    assert redact(text) == text


@settings(max_examples=200)
@given(prefix=st.text(max_size=60), suffix=st.text(max_size=60), form=st.integers(0, 3))
def test_a_known_secret_never_survives(prefix: str, suffix: str, form: int) -> None:
    secret = ["Zq8psk0123456789", AWS_SECRET, random_aws_secret(), new_psk()][form]
    if form in (0, 3):  # known: found anywhere
        out = redact(prefix + secret + suffix, known=[secret])
    else:  # recognised by its shape: needs to stand apart from other base64 characters
        out = redact(f"{prefix} {secret}\n{suffix}")
    assert secret not in out


@settings(max_examples=100)
@given(st.text(alphabet="secret key password '\"= :-/+Aa0\n<>", max_size=2000))
def test_redaction_is_stable(text: str) -> None:
    once = redact(text)
    assert redact(once) == once
