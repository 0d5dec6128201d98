"""SSH host keys printed by cloud-init on the EC2 console, and fingerprint helpers.

cloud-init writes two blocks to the console (each line may carry a prefix such as `ec2: ` or
`[   12.3] cloud-init[123]: `):

    -----BEGIN SSH HOST KEY FINGERPRINTS-----
    256 SHA256:vY8P... root@ip-10-0-0-1 (ED25519)        (older: MD5 aa:bb:...:ff)
    -----END SSH HOST KEY FINGERPRINTS-----
    -----BEGIN SSH HOST KEY KEYS-----
    ssh-ed25519 AAAAC3Nza... root@ip-10-0-0-1
    -----END SSH HOST KEY KEYS-----

Only complete blocks count (the console log may start or stop mid-block), the last complete
block of each kind wins (the latest boot), and the ci-info "Authorized keys" table is ignored:
those are user keys. Every key blob is checked structurally, so a line cut short by the
console is rejected instead of trusted.

A stock VyOS AMI prints neither block; the boot script vpnwatch puts into a replacement's
user data (`heal/hostkey.py`) prints `ssh-keygen -l` lines between the VPNWATCH markers,
read by `parse_printed_fingerprints`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterator

from vpnwatch.errors import ParseError
from vpnwatch.model import ConsoleHostKeys
from vpnwatch.parsers._util import MAX_CONSOLE_CHARS, at_line, check_characters, check_size

_BEGIN_FP = "-----BEGIN SSH HOST KEY FINGERPRINTS-----"
_END_FP = "-----END SSH HOST KEY FINGERPRINTS-----"
VPNWATCH_BEGIN_FP = "-----BEGIN VPNWATCH SSH HOST KEY FINGERPRINTS-----"
VPNWATCH_END_FP = "-----END VPNWATCH SSH HOST KEY FINGERPRINTS-----"
_BEGIN_KEYS = "-----BEGIN SSH HOST KEY KEYS-----"
_END_KEYS = "-----END SSH HOST KEY KEYS-----"

_MD5_HEX = r"(?:[0-9a-fA-F]{2}:){15}[0-9a-fA-F]{2}"
_FINGERPRINT_TOKEN_RE = re.compile(r"(?:MD5:)?" + _MD5_HEX + r"|SHA256:[A-Za-z0-9+/]{43}=?")
_TYPE_TOKEN_RE = re.compile(r"\((?P<type>[A-Z0-9]+)\)")
_KEY_TYPES = r"ssh-rsa|ssh-dss|ssh-ed25519|ecdsa-sha2-nistp(?:256|384|521)|ssh-ed448"
_KEY_RE = re.compile(
    r"(?:^|[\s:\]])(?P<type>" + _KEY_TYPES + r")\s+(?P<blob>AAAA[A-Za-z0-9+/]+={0,2})(?:\s|$)"
)
# SSH wire format: number of length-prefixed strings/mpints each key type has.
_KEY_FIELDS = {
    "ssh-rsa": 3,
    "ssh-dss": 5,
    "ssh-ed25519": 2,
    "ssh-ed448": 2,
    "ecdsa-sha2-nistp256": 3,
    "ecdsa-sha2-nistp384": 3,
    "ecdsa-sha2-nistp521": 3,
}
_FINGERPRINT_TYPE = {
    "ssh-rsa": "RSA",
    "ssh-dss": "DSA",
    "ssh-ed25519": "ED25519",
    "ssh-ed448": "ED448",
    "ecdsa-sha2-nistp256": "ECDSA",
    "ecdsa-sha2-nistp384": "ECDSA",
    "ecdsa-sha2-nistp521": "ECDSA",
}


def parse_console_host_keys(text: str) -> ConsoleHostKeys:
    """Host key fingerprints and keys from EC2 console output; ParseError when there are none.

    Console output is full of boot noise (colours, carriage returns): only the lines inside
    the host key blocks must be clean.
    """
    check_size(text, MAX_CONSOLE_CHARS, "console output")
    lines = text.splitlines()
    fingerprint_block = _last_block(lines, _BEGIN_FP, _END_FP)
    keys_block = _last_block(lines, _BEGIN_KEYS, _END_KEYS)
    if fingerprint_block is None and keys_block is None:
        raise ParseError("no complete cloud-init SSH HOST KEY block in the console output")
    fingerprints: dict[str, str] = {}
    for number, line in fingerprint_block or []:
        with at_line(number):
            found = _fingerprint(line, number)
            if found is not None:
                _put_once(fingerprints, found[0], found[1], "fingerprint")
    keys: dict[str, str] = {}
    for number, line in keys_block or []:
        with at_line(number):
            match = _KEY_RE.search(line)
            if match:
                check_characters(line, first_line=number)  # data lines only: noise may be junk
                key_type, blob = match.group("type"), match.group("blob")
                _check_key_blob(key_type, blob)
                _put_once(keys, key_type, blob, "key")
    if not fingerprints and not keys:
        raise ParseError("SSH HOST KEY blocks hold no fingerprint or key line")
    return ConsoleHostKeys(fingerprints=fingerprints, keys=keys)


def parse_printed_fingerprints(text: str) -> ConsoleHostKeys | None:
    """The fingerprints vpnwatch's boot script printed, by key type, from the last complete
    VPNWATCH block (None: none is complete yet). ParseError over the size limit, for a junk
    data line, or for two different fingerprints of one type."""
    check_size(text, MAX_CONSOLE_CHARS, "console output")
    block = _last_block(text.splitlines(), VPNWATCH_BEGIN_FP, VPNWATCH_END_FP)
    if block is None:
        return None
    fingerprints: dict[str, str] = {}
    for number, line in block:
        with at_line(number):
            found = _fingerprint(line, number)
            if found is not None:
                _put_once(fingerprints, found[0], found[1], "fingerprint")
    return ConsoleHostKeys(fingerprints=fingerprints, keys={})


def _fingerprint(line: str, number: int) -> tuple[str, str] | None:
    """`256 SHA256:... comment (ED25519)` (after any console prefix) → (type, fingerprint).

    Read by tokens, not by one backtracking pattern: bits, the fingerprint, anything, then
    the `(TYPE)` token at the end of the line.
    """
    tokens = line.split()
    if len(tokens) < 3:
        return None
    kind = _TYPE_TOKEN_RE.fullmatch(tokens[-1])
    if kind is None:
        return None
    for index in range(len(tokens) - 2):
        if _is_bits(tokens[index]) and _FINGERPRINT_TOKEN_RE.fullmatch(tokens[index + 1]):
            check_characters(line, first_line=number)  # data lines only: noise may be junk
            return kind.group("type"), tokens[index + 1]
    return None


def _is_bits(token: str) -> bool:
    """`256`, or a console prefix glued to it (`ec2:256`, `cloud-init[9]:256`)."""
    digits = token.rsplit(":", 1)[-1].rsplit("]", 1)[-1]
    return digits.isascii() and digits.isdigit()


def _last_block(lines: list[str], begin: str, end: str) -> list[tuple[int, str]] | None:
    """(line number, line) of the lines strictly between the last complete marker pair."""
    found: list[tuple[int, str]] | None = None
    inside: list[tuple[int, str]] | None = None
    for number, line in enumerate(lines, start=1):
        if begin in line:
            inside = []
        elif end in line:
            if inside is not None:
                found = inside
            inside = None
        elif inside is not None:
            inside.append((number, line))
    return found


def _put_once(target: dict[str, str], key: str, value: str, what: str) -> None:
    if target.get(key, value) != value:
        raise ParseError(f"two different {what}s for {key} in one block")
    target[key] = value


# ------------------------------------------------------------------ key blobs


def _decode_blob(key_blob_b64: str) -> bytes:
    text = "".join(key_blob_b64.split())
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ParseError("key blob is not valid base64") from None


def _wire_strings(blob: bytes) -> Iterator[bytes]:
    offset = 0
    while offset < len(blob):
        if offset + 4 > len(blob):
            raise ParseError("key blob is truncated")
        length = int.from_bytes(blob[offset : offset + 4], "big")
        offset += 4
        if offset + length > len(blob):
            raise ParseError("key blob is truncated")
        yield blob[offset : offset + length]
        offset += length


def _check_key_blob(key_type: str, blob_b64: str) -> None:
    """The blob must decode to exactly the fields of its declared key type."""
    fields = list(_wire_strings(_decode_blob(blob_b64)))
    if not fields or fields[0] != key_type.encode():
        raise ParseError(f"{key_type} key line holds a key of another type")
    if len(fields) != _KEY_FIELDS[key_type]:
        raise ParseError(f"{key_type} key blob has the wrong shape (truncated?)")


def fingerprint_sha256(key_blob_b64: str) -> str:
    """OpenSSH SHA256 fingerprint (`SHA256:` + unpadded base64) of a base64 key blob."""
    digest = hashlib.sha256(_decode_blob(key_blob_b64)).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def fingerprint_md5(key_blob_b64: str) -> str:
    """Legacy MD5 fingerprint (`aa:bb:...`) of a base64 key blob."""
    digest = hashlib.md5(_decode_blob(key_blob_b64), usedforsecurity=False).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def fingerprint_type(key_type: str) -> str:
    """`ssh-ed25519` → `ED25519` (the word cloud-init prints); `RSA` stays `RSA`."""
    return _FINGERPRINT_TYPE.get(key_type, key_type.upper())


def _same_fingerprint(printed: str, key_blob_b64: str) -> bool:
    if printed.startswith("SHA256:"):
        return printed.rstrip("=") == fingerprint_sha256(key_blob_b64)
    return printed.removeprefix("MD5:").lower() == fingerprint_md5(key_blob_b64)


def host_key_matches(console: ConsoleHostKeys, key_type: str, key_blob_b64: str) -> bool:
    """Does the key the router presents match what its console printed?

    True when the blob equals the console's KEYS entry of that type or its fingerprint equals
    the printed fingerprint of that type, and nothing printed contradicts it (a different key
    or fingerprint of the same type). A blob that is not valid base64 never matches.
    """
    try:
        blob = _decode_blob(key_blob_b64)
    except ParseError:
        return False
    evidence: list[bool] = []
    printed_key = console.keys.get(key_type)
    if printed_key is not None:
        try:
            evidence.append(_decode_blob(printed_key) == blob)
        except ParseError:
            evidence.append(False)
    printed_fingerprint = console.fingerprints.get(fingerprint_type(key_type))
    if printed_fingerprint is not None:
        evidence.append(_same_fingerprint(printed_fingerprint, key_blob_b64))
    return bool(evidence) and all(evidence)
