"""The user data of a replacement: the old instance's, intact, plus vpnwatch's part (DESIGN §5).

vpnwatch's part is a `text/cloud-config` that VyOS's cloud-init applies (vyos-cloud-init:
modules `vyos` and `write_files`):
- `ssh_authorized_keys`: the daemon's public key, so the restore can log in whatever the
  backup left out (a fresh VyOS authorizes only the key pair's key and these);
- `write_files`: the boot script that prints the host key fingerprints (`heal.hostkey`).
Its `merge_how` appends to the lists the old user data may already have (cloud-init's
default merge, `dict()` no_replace, would keep the old lists and drop these).

The old user data is kept as raw bytes, never decoded lossily: a plain blob becomes one MIME
part (base64, its type found by cloud-init from how it starts, as at the top level); a MIME
message keeps every part (base64 again, headers kept) except a previous vpnwatch part; a
gzip blob is unpacked first (cloud-init accepts gzip at the top level). The result must fit
in EC2's 16 KB (raw, before base64); if it does not, it is gzip-compressed as a whole, and if
that does not fit either the replacement is refused before anything happens.
"""

from __future__ import annotations

import base64
import email
import email.message
import gzip
import hashlib
import zlib
from dataclasses import dataclass

import yaml

from vpnwatch.errors import PermanentError
from vpnwatch.heal.hostkey import BOOT_SCRIPT, BOOT_SCRIPT_PATH, BOOT_SCRIPT_PATHS

USER_DATA_LIMIT = 16 * 1024
PART_HEADER = "X-Vpnwatch-Part"
_DROPPED_HEADERS = {"content-transfer-encoding", "mime-version"}


class UserDataError(PermanentError):
    """The old user data cannot be carried over (the reason says why)."""


@dataclass(frozen=True)
class Part:
    headers: tuple[tuple[str, str], ...]  # Content-Type first
    payload: bytes


def _is_gzip(data: bytes) -> bool:
    return data[:2] == b"\x1f\x8b"


def _is_mime(data: bytes) -> bool:
    return b"mime-version:" in data[:4096].lower()


def vpnwatch_part(public_key: str) -> Part:
    config = {
        "merge_how": [
            {"name": "list", "settings": ["append"]},
            {"name": "dict", "settings": ["no_replace", "recurse_list"]},
        ],
        "ssh_authorized_keys": [public_key.strip()],
        "write_files": [{"path": BOOT_SCRIPT_PATH, "permissions": "0755", "content": BOOT_SCRIPT}],
    }
    text = "#cloud-config\n" + yaml.safe_dump(config, sort_keys=False, width=1000)
    headers = (("Content-Type", 'text/cloud-config; charset="utf-8"'), (PART_HEADER, "boot"))
    return Part(headers, text.encode())


def _mime_parts(data: bytes) -> list[Part]:
    try:
        message = email.message_from_string(data.decode("utf-8"))
    except UnicodeDecodeError:
        reason = "the old user data is MIME but not UTF-8 (cloud-init cannot read it)"
        raise UserDataError(reason) from None
    parts = []
    for part in message.walk():
        if part.get_content_maintype() == "multipart" or part.get(PART_HEADER):
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            payload = b""
        headers = [("Content-Type", str(part.get("Content-Type", "text/x-not-multipart")))]
        headers += [
            (k, str(v))
            for k, v in part.items()
            if k.lower() not in _DROPPED_HEADERS and k.lower() != "content-type"
        ]
        parts.append(Part(tuple(headers), payload))
    return parts


def old_parts(original: bytes | None) -> list[Part]:
    """The old user data as MIME parts, without a previous vpnwatch part."""
    if not original:
        return []
    data = original
    if _is_gzip(data):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error):
            reason = "the old user data looks gzip-compressed but does not unpack"
            raise UserDataError(reason) from None
    if _is_mime(data):
        return _mime_parts(data)
    return [Part((("Content-Type", "text/x-not-multipart"),), data)]


def _check_no_clash(parts: list[Part]) -> None:
    for part in parts:
        text = part.payload.decode("utf-8", "replace")
        for path in BOOT_SCRIPT_PATHS:
            if path in text:
                raise UserDataError(
                    f"the old user data already writes {path}, which vpnwatch needs for its "
                    "host-key boot script: move that script into vyos-postconfig-bootup.script"
                )


def _render(parts: list[Part]) -> bytes:
    # deterministic (a retried launch sends the same bytes); base64 lines never contain "-"
    digest = hashlib.sha256(b"".join(p.payload for p in parts)).hexdigest()[:16]
    boundary = f"vpnwatch-{digest}"
    out = [
        f'Content-Type: multipart/mixed; boundary="{boundary}"',
        "MIME-Version: 1.0",
        "Number-Attachments: " + str(len(parts)),
        "",
    ]
    for part in parts:
        out.append(f"--{boundary}")
        out += [f"{k}: {v}" for k, v in part.headers]
        out += ["Content-Transfer-Encoding: base64", ""]
        encoded = base64.b64encode(part.payload).decode()
        out += [encoded[i : i + 76] for i in range(0, len(encoded), 76)] or [""]
    out += [f"--{boundary}--", ""]
    return "\n".join(out).encode()


def compose(original: bytes | None, public_key: str) -> bytes:
    """The replacement's user data; UserDataError when it cannot be built within 16 KB."""
    parts = old_parts(original)
    _check_no_clash(parts)
    data = _render([*parts, vpnwatch_part(public_key)])
    if len(data) <= USER_DATA_LIMIT:
        return data
    packed = gzip.compress(data, compresslevel=9, mtime=0)
    if len(packed) <= USER_DATA_LIMIT:
        return packed
    raise UserDataError(
        f"the user data would be {len(data)} bytes ({len(packed)} gzip-compressed), more than "
        f"EC2's {USER_DATA_LIMIT}: shorten the old user data"
    )
