"""The replacement's user data and host-key trust, read back the way VyOS's cloud-init reads
them (the lab's `cloud_init`, which follows vyos-cloud-init) and the way ssh-keygen prints."""

from __future__ import annotations

import base64
import email
import gzip
import random
import subprocess
from pathlib import Path

import asyncssh
import pytest

from vpnwatch.core.records import HealRecord
from vpnwatch.errors import ParseError
from vpnwatch.heal.hostkey import BEGIN, BOOT_SCRIPT, BOOT_SCRIPT_PATH, END, key_is_printed
from vpnwatch.heal.userdata import USER_DATA_LIMIT, UserDataError, compose
from vpnwatch.lab.cloud_init import parse_user_data
from vpnwatch.parsers import fingerprint_md5, fingerprint_sha256, parse_printed_fingerprints

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBl7I3p5gVyBBFYs8q8q0l3t0n8i3tVQ2mFbm1b1VnFD vpnwatch"
CLOUD_CONFIG = (
    b"#cloud-config\n"
    b"ssh_authorized_keys:\n  - ssh-rsa AAAAB3NzaC1yc2E admin\n"
    b"vyos_config_commands:\n  - set system host-name 'r1'\n"
    b"write_files:\n  - path: /config/motd\n    content: hello\n"
)


@pytest.mark.parametrize(
    "original", [None, CLOUD_CONFIG, gzip.compress(CLOUD_CONFIG)], ids=["none", "plain", "gzip"]
)
def test_vpnwatch_part_is_appended_and_the_old_user_data_still_applies(
    original: bytes | None,
) -> None:
    data = compose(original, KEY)
    applied = parse_user_data(data)
    assert applied.problems == ()
    assert applied.ssh_authorized_keys[-1] == KEY
    assert applied.write_files[-1].path == BOOT_SCRIPT_PATH
    assert applied.write_files[-1].content.decode() == BOOT_SCRIPT
    assert applied.write_files[-1].permissions == 0o755
    if original is not None:  # cloud-init's default merge would have dropped vpnwatch's lists
        assert applied.ssh_authorized_keys[0] == "ssh-rsa AAAAB3NzaC1yc2E admin"
        assert [f.path for f in applied.write_files] == ["/config/motd", BOOT_SCRIPT_PATH]
        assert applied.vyos_config_commands == (("set", ("system", "host-name"), "r1"),)


def test_the_old_user_data_is_carried_byte_for_byte_and_a_second_compose_replaces_its_part() -> (
    None
):
    binary = bytes(range(256)) * 4  # not text at all: never decoded, never replaced
    data = compose(binary, KEY)
    parts = [p for p in email.message_from_bytes(data).walk() if not p.is_multipart()]
    assert parts[0].get_payload(decode=True) == binary
    assert compose(data, KEY) == data  # the previous vpnwatch part is replaced, not nested
    other = compose(data, KEY.replace("vpnwatch", "other"))
    assert parse_user_data(other).ssh_authorized_keys == (KEY.replace("vpnwatch", "other"),)


def test_a_mime_user_data_keeps_every_part_and_its_headers() -> None:
    mime = (
        b'Content-Type: multipart/mixed; boundary="B"\nMIME-Version: 1.0\n\n'
        b"--B\nContent-Type: text/cloud-config\nMerge-Type: list(append)+dict()+str()\n\n"
        + CLOUD_CONFIG
        + b"\n--B\nContent-Type: text/x-shellscript\n\n#!/bin/sh\necho hi\n--B--\n"
    )
    data = compose(mime, KEY)
    parts = [p for p in email.message_from_bytes(data).walk() if not p.is_multipart()]
    assert [p.get_content_type() for p in parts] == [
        "text/cloud-config", "text/x-shellscript", "text/cloud-config",
    ]  # fmt: skip
    assert parts[0]["Merge-Type"] == "list(append)+dict()+str()"
    assert parts[1].get_payload(decode=True) == b"#!/bin/sh\necho hi"
    assert parse_user_data(data).ssh_authorized_keys[-1] == KEY


def test_too_large_user_data_is_gzipped_or_refused() -> None:
    big_text = b"#cloud-config\nwrite_files:\n" + b"".join(
        b"  - path: /config/f%d\n    content: %s\n" % (i, b"x" * 100) for i in range(140)
    )
    assert len(big_text) > USER_DATA_LIMIT
    packed = compose(big_text, KEY)
    assert packed[:2] == b"\x1f\x8b" and len(packed) <= USER_DATA_LIMIT
    assert parse_user_data(packed).write_files[-1].path == BOOT_SCRIPT_PATH
    noise = base64.b64encode(random.Random(1).randbytes(20_000))  # incompressible
    with pytest.raises(UserDataError, match="more than EC2's 16384"):
        compose(noise, KEY)


def test_user_data_that_already_writes_the_boot_script_is_refused() -> None:
    clash = (
        b"#cloud-config\nwrite_files:\n  - path: /config/scripts/vyatta-postconfig-bootup.script\n"
    )
    with pytest.raises(UserDataError, match="already writes"):
        compose(clash, KEY)


def test_broken_gzip_and_non_utf8_mime_are_refused() -> None:
    with pytest.raises(UserDataError, match="does not unpack"):
        compose(b"\x1f\x8b\x08garbage", KEY)
    with pytest.raises(UserDataError, match="not UTF-8"):
        compose(b"MIME-Version: 1.0\nContent-Type: text/plain\n\n\xff\xfe", KEY)


def _run_boot_script(tmp_path: Path, key: asyncssh.SSHKey) -> str:
    """The boot script with real sh and ssh-keygen, /etc/ssh and /dev/console mapped."""
    etc = tmp_path / "etc" / "ssh"
    etc.mkdir(parents=True)
    (etc / "ssh_host_ed25519_key.pub").write_bytes(key.export_public_key("openssh"))
    console = tmp_path / "console"
    script = BOOT_SCRIPT.replace("/etc/ssh/", f"{etc}/").replace("/dev/console", str(console))
    subprocess.run(["/bin/sh", "-c", script], check=True, timeout=20)
    return console.read_text()


def test_the_boot_script_prints_what_the_parser_reads(tmp_path: Path) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    printed = _run_boot_script(tmp_path, key)
    assert printed.splitlines()[0] == BEGIN and printed.splitlines()[-1] == END
    public = key.export_public_key("openssh").decode()
    found = parse_printed_fingerprints("kernel noise\n" + printed + "login: ")
    assert found is not None
    assert found.fingerprints == {"ED25519": str(key.get_fingerprint("sha256"))}
    assert key_is_printed(public, found)
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key("openssh").decode()
    assert not key_is_printed(other, found)


def test_fingerprint_parsing_needs_a_complete_block_and_knows_md5() -> None:
    public = asyncssh.generate_private_key("ssh-ed25519").export_public_key("openssh").decode()
    blob = public.split()[1]
    sha, md5 = fingerprint_sha256(blob), fingerprint_md5(blob)
    assert parse_printed_fingerprints("") is None
    assert parse_printed_fingerprints(f"{BEGIN}\n256 {sha} root@vyos (ED25519)\n") is None  # no END
    block = f"{BEGIN}\n256 {md5} root@vyos (ED25519)\n{END}\n"  # OpenSSH < 6.8 (VyOS 1.1)
    found = parse_printed_fingerprints(block)
    assert found is not None and found.fingerprints == {"ED25519": md5}
    assert key_is_printed(public, found)
    empty = parse_printed_fingerprints(f"{BEGIN}\n{END}\n")
    assert empty is not None and not empty.fingerprints and not key_is_printed(public, empty)
    # the fingerprint of another key type proves nothing about this one
    rsa = parse_printed_fingerprints(f"{BEGIN}\n2048 {sha} root@vyos (RSA)\n{END}\n")
    assert rsa is not None and not key_is_printed(public, rsa)


def test_a_junk_or_contradicting_fingerprint_block_is_a_parse_error() -> None:
    blob = asyncssh.generate_private_key("ssh-ed25519").export_public_key("openssh").split()[1]
    sha = fingerprint_sha256(blob.decode())
    with pytest.raises(ParseError, match="line 2"):
        parse_printed_fingerprints(f"{BEGIN}\n256 {sha} root@vyos\x1b[31m (ED25519)\n{END}\n")
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key("openssh").split()[1]
    two = f"256 {sha} a (ED25519)\n256 {fingerprint_sha256(other.decode())} b (ED25519)"
    with pytest.raises(ParseError, match="two different fingerprints"):
        parse_printed_fingerprints(f"{BEGIN}\n{two}\n{END}\n")
    with pytest.raises(ParseError, match="over the 1048576-character limit"):
        parse_printed_fingerprints("x" * (1024 * 1024 + 1))


def test_a_new_launch_attempt_gets_a_new_client_token() -> None:
    record = HealRecord("r1-replace-1", "r1", "replace", "same-ip", 1.0, False, "i-1")
    again = HealRecord("r1-replace-1", "r1", "replace", "same-ip", 1.0, False, "i-1")
    assert record.launch_token(1) == again.launch_token(1)
    retry = HealRecord("r1-replace-1", "r1", "replace", "same-ip", 1.0, False, "i-1",
                       launch_attempt=1)  # fmt: skip
    token = retry.launch_token(1)
    assert token != record.launch_token(1) and len(token) <= 64
    # ... and a new leadership term (fence) too, for every attempt
    assert retry.launch_token(2) not in (token, record.launch_token(2))
