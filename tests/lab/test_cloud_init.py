"""The lab reads user data as VyOS's cloud-init does (vyos-cloud-init, branch current)."""

from __future__ import annotations

import base64
import gzip

from vpnwatch.lab.cloud_init import login_key_name, parse_user_data

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBl7I3p5gVyBBFYs8q8q0l3t0n8i3tVQ2mFbm1b1VnFD"


def mime(*parts: tuple[str, bytes, str]) -> bytes:
    """(content type, payload, extra header lines) → a MIME message with base64 parts."""
    out = b'Content-Type: multipart/mixed; boundary="B"\nMIME-Version: 1.0\n\n'
    for ctype, payload, extra in parts:
        out += f"--B\nContent-Type: {ctype}\n{extra}Content-Transfer-Encoding: base64\n\n".encode()
        out += base64.b64encode(payload) + b"\n"
    return out + b"--B--\n"


def test_a_plain_cloud_config_applies_keys_commands_and_files() -> None:
    data = parse_user_data(
        b"#cloud-config\nssh_authorized_keys: ['" + KEY.encode() + b" admin']\n"
        b"vyos_config_commands:\n  - set system host-name 'r1'\n  - delete service ntp\n"
        b"  - not a command\n"
        b"write_files:\n  - {path: /config/a, content: aGk=, encoding: b64, permissions: '0600'}\n"
    )
    assert data.ssh_authorized_keys == (f"{KEY} admin",)
    assert data.vyos_config_commands == (
        ("set", ("system", "host-name"), "r1"), ("delete", ("service", "ntp"), None),
    )  # fmt: skip
    (written,) = data.write_files
    assert (written.path, written.content, written.permissions) == ("/config/a", b"hi", 0o600)


def test_cloud_inits_default_merge_keeps_the_first_lists_merge_how_appends() -> None:
    first = b"#cloud-config\nssh_authorized_keys: ['ssh-rsa A first']\n"
    second = b"#cloud-config\nssh_authorized_keys: ['ssh-rsa B second']\n"
    default = parse_user_data(
        mime(("text/cloud-config", first, ""), ("text/cloud-config", second, ""))
    )
    assert default.ssh_authorized_keys == ("ssh-rsa A first",)  # dict() is no_replace
    header = "Merge-Type: list(append)+dict(recurse_array,no_replace)+str()\n"
    appended = parse_user_data(
        mime(("text/cloud-config", first, ""), ("text/cloud-config", second, header))
    )
    assert appended.ssh_authorized_keys == ("ssh-rsa A first", "ssh-rsa B second")


def test_gzip_at_the_top_and_in_parts_and_types_found_from_the_content() -> None:
    config = b"#cloud-config\nvyos_config_commands: [\"set system host-name 'g'\"]\n"
    assert parse_user_data(gzip.compress(config)).vyos_config_commands
    inner = mime(("application/gzip", gzip.compress(config), ""))
    assert parse_user_data(inner).vyos_config_commands
    plain = mime(("text/plain", config, ""), ("text/x-shellscript", b"#!/bin/sh\nexit 1\n", ""))
    assert parse_user_data(plain).vyos_config_commands  # scripts: never run on VyOS
    assert parse_user_data(b"#!/bin/sh\necho hi\n") == parse_user_data(b"")


def test_unreadable_user_data_is_skipped_with_a_problem() -> None:
    assert parse_user_data(b"#cloud-config\n: : [\n").problems == (
        "a cloud-config part is not valid YAML",
    )
    assert parse_user_data(b"\x1f\x8b\x08broken").problems


def test_key_names_follow_cc_vyos() -> None:
    assert login_key_name(f"{KEY} vpnwatch", "cloud-init-x") == "vpnwatch"
    assert login_key_name(f"{KEY} vpnwatch-spoke1", "cloud-init-x") == "cloud-init-x"
    assert login_key_name(KEY, "cloud-init-x") == "cloud-init-x"
