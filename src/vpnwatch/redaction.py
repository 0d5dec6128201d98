"""The one redaction function: secrets out of any text before it is logged or shown.

`redact(text)` replaces, and only replaces, what is a secret:
- values the process knows are secret (`remember_secrets`: the routers' pre-shared keys from
  their configs, the AWS secret key and session token of the environment) and any `known`
  values passed in, wherever they appear;
- PEM/OpenSSH private key blocks (a block cut short is masked to the end of the text);
- the value after a secret keyword in VyOS statement form (`pre-shared-secret X`,
  `secret 'X'`, `plaintext-password X`, `private-key X`, `key 'X'`...): a quoted value
  always, a bare value only where a statement's value ends (end of line or `]`, `}`, `;`),
  so prose such as "Invalid public key (next attempt in 1.0s)" stays as it is;
- `NAME=value` and `"NAME": "value"` with a secret-looking NAME (`AWS_SECRET_ACCESS_KEY=...`,
  `"SecretAccessKey": "..."`, `password=...`);
- credentials in URLs (`http://user:pass@host`);
- strings shaped like an AWS secret access key (40 base64 characters, mixed case, digits).

`redact_data` applies it to nested dicts/lists (config dumps, log events) and masks every
value whose key names a secret. Every pattern is linear in the text (anchored starts, bounded
repeats); texts over `MAX_TEXT` characters are cut first. Pure: no I/O; the registry of known
values is process-wide and thread-safe.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "<redacted>"
# Shorter known values are not registered: they would mask ordinary words, and a PSK is at
# least 8 characters (AWS's rule for VPN tunnel PSKs).
MIN_KNOWN_LENGTH = 8
MAX_TEXT = 1 << 20
_MAX_KNOWN = 10_000
_TRIE_MAX = 256  # known values up to this length go into one prefix-tree pattern

# Key names whose values are secret (structured data, log event keys).
SECRET_NAME = re.compile(
    r"secret|password|passphrase|passwd|token|psk|pre.?shared|private.?key|credential",
    re.IGNORECASE,
)
# VyOS keywords whose value is a secret: `... pre-shared-secret X`, `... psk NAME secret X`,
# `... plaintext-password X`, `wireguard ... private-key X`, `radius server A key X`.
_BARE_KEYWORDS = (
    r"pre-shared-secret|shared-secret(?:-key)?|secret|plaintext-password|encrypted-password"
    r"|password|passphrase|private-key|md5-key"
)
_KEYWORDS = _BARE_KEYWORDS + "|key"
_QUOTED = r"'[^'\n]{0,1024}'|\"[^\"\n]{0,1024}\""
_QUOTED_AFTER_KEYWORD = re.compile(
    rf"(?<![\w-])(?P<word>{_KEYWORDS})(?P<sep>\s+)(?:{_QUOTED})", re.IGNORECASE
)
_BARE_VALUE = r"[^\s'\"\]\[{};]{1,1024}(?=[ \t]*(?:$|[\]};]))"
# Bare values only where a statement's value ends; plain `key` only as a config.boot line
# (`key s3cret`), since "... with the key /path/id_ed25519" is prose.
_BARE_AFTER_KEYWORD = re.compile(
    rf"(?<![\w-])(?P<word>{_BARE_KEYWORDS})(?P<sep>[ \t]+){_BARE_VALUE}"
    rf"|^(?P<kword>[ \t]*key)(?P<ksep>[ \t]+){_BARE_VALUE}",
    re.IGNORECASE | re.MULTILINE,
)
_NAME_OF_A_SECRET = (
    r"(?<![\w.-])[\w.-]{0,64}(?:secret|password|passphrase|passwd|token|psk|private[_-]?key)"  # noqa: S105
    r"[\w.-]{0,64}"
)
# `NAME=value` (environment, ini, URL query) and `"NAME": "value"` (JSON, YAML).
_ASSIGNMENT = re.compile(
    rf"(?P<name>{_NAME_OF_A_SECRET})(?P<sep>[ \t]*=[ \t]*)(?P<value>{_QUOTED}|[^\s,;&]{{1,1024}})"
    rf"|(?P<qname>[\"']?{_NAME_OF_A_SECRET}[\"']?)(?P<qsep>[ \t]*:[ \t]*)(?P<qvalue>{_QUOTED})",
    re.IGNORECASE,
)
_PRIVATE_KEY_BLOCK = re.compile(
    r"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]{0,40}PRIVATE KEY-----|\Z)",
    re.DOTALL,
)
_URL_CREDENTIALS = re.compile(
    r"(?<![a-z0-9+.-])(?P<scheme>[a-z][a-z0-9+.-]{0,30}://)[^/\s@:]{1,256}:[^/\s@]{1,256}@",
    re.IGNORECASE,
)
_AWS_SECRET_SHAPE = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")


class _Registry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add(self, values: Iterable[str | None]) -> None:
        wanted = {v for v in values if v and len(v) >= MIN_KNOWN_LENGTH}
        with self._lock:
            fresh = wanted - self._values
            if not fresh:
                return
            if len(self._values) + len(fresh) > _MAX_KNOWN:  # bounded: keep the newest
                self._values.clear()
            self._values.update(fresh)
            self._pattern = None

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._pattern = None

    def pattern(self, extra: Iterable[str]) -> re.Pattern[str] | None:
        more = {v for v in extra if v and len(v) >= MIN_KNOWN_LENGTH}
        with self._lock:
            if more - self._values:
                return _literal_pattern(more | self._values)
            if self._pattern is None and self._values:
                self._pattern = _literal_pattern(self._values)
            return self._pattern


_registry = _Registry()


def remember_secrets(values: Iterable[str | None]) -> None:
    """Add values that must never be shown (PSKs of a pulled config, AWS credentials)."""
    _registry.add(values)


def forget_secrets() -> None:
    """Clear the registry (tests)."""
    _registry.clear()


def _literal_pattern(values: Iterable[str]) -> re.Pattern[str]:
    """One pattern matching any of `values`, longest first. Short values share a prefix tree,
    so the cost per text position does not grow with the number of values."""
    short = [v for v in values if len(v) <= _TRIE_MAX]
    long = sorted((v for v in values if len(v) > _TRIE_MAX), key=len, reverse=True)
    parts = [re.escape(v) for v in long]
    if short:
        parts.append(_trie_pattern(short))
    try:
        return re.compile("|".join(parts))
    except (RecursionError, re.error):  # a pathological tree: the plain alternation
        ordered = sorted(values, key=len, reverse=True)
        return re.compile("|".join(re.escape(v) for v in ordered))


def _trie_pattern(values: Iterable[str]) -> str:
    trie: dict[str, Any] = {}
    for value in values:
        node = trie
        for char in value:
            node = node.setdefault(char, {})
        node[""] = {}

    def build(node: dict[str, Any]) -> str:
        branches = [re.escape(c) + build(child) for c, child in sorted(node.items()) if c]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body  # a value that is a prefix of another

    return build(trie)


def _mask_aws_shape(match: re.Match[str]) -> str:
    text = match.group(0)
    mixed = any(c.islower() for c in text) and any(c.isupper() for c in text)
    return REDACTED if mixed and any(c.isdigit() for c in text) else text


def _mask_quoted(match: re.Match[str]) -> str:
    return f"{match.group('word')}{match.group('sep')}{REDACTED}"


def _mask_bare(match: re.Match[str]) -> str:
    if match.group("word") is not None:
        return f"{match.group('word')}{match.group('sep')}{REDACTED}"
    return f"{match.group('kword')}{match.group('ksep')}{REDACTED}"


def _mask_assignment(match: re.Match[str]) -> str:
    if match.group("name") is not None:
        name, sep, value = match.group("name", "sep", "value")
    else:
        name, sep, value = match.group("qname", "qsep", "qvalue")
    if REDACTED in value:
        return match.group(0)
    return f"{name}{sep}{REDACTED}"


def redact(text: str, known: Iterable[str] = ()) -> str:
    """`text` with every secret in it replaced by `<redacted>` (see the module docstring)."""
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT] + " ...(cut)"
    pattern = _registry.pattern(known)
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    text = _PRIVATE_KEY_BLOCK.sub(f"{REDACTED} private key", text)
    text = _QUOTED_AFTER_KEYWORD.sub(_mask_quoted, text)
    text = _BARE_AFTER_KEYWORD.sub(_mask_bare, text)
    text = _ASSIGNMENT.sub(_mask_assignment, text)
    text = _URL_CREDENTIALS.sub(rf"\g<scheme>{REDACTED}@", text)
    return _AWS_SECRET_SHAPE.sub(_mask_aws_shape, text)


def redact_data(data: Any, known: Iterable[str] = ()) -> Any:
    """A copy of nested dicts/lists/tuples with secret-named keys masked and every string
    redacted. Other values (numbers, booleans, None) are kept as they are."""
    extra = tuple(known)

    def walk(node: Any) -> Any:
        if isinstance(node, str):
            return redact(node, extra)
        if isinstance(node, Mapping):
            return {
                k: REDACTED if isinstance(k, str) and SECRET_NAME.search(k) else walk(v)
                for k, v in node.items()
            }
        if isinstance(node, list | tuple):
            return [walk(v) for v in node]
        return node

    return walk(data)


_KEY_BODY = re.compile(
    r"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY-----(?P<body>.*?)-----END [A-Z0-9 ]{0,40}PRIVATE KEY",
    re.DOTALL,
)


def private_key_lines(text: str) -> list[str]:
    """The body lines of the private key blocks in `text` (a key file): each is a secret
    on its own, should one ever be quoted without its markers."""
    return [
        line.strip()
        for block in _KEY_BODY.finditer(text)
        for line in block.group("body").splitlines()
        if len(line.strip()) >= MIN_KNOWN_LENGTH and ":" not in line  # not a PEM header
    ]


# VyOS statements: the value after a secret keyword (`set ... pre-shared-secret 'X'`).
_STATEMENT_SECRET = re.compile(
    rf"(?<![\w-])(?:{_KEYWORDS})\s+(?P<value>'[^']*'|\"[^\"]*\"|[^\s\]\[]+)", re.IGNORECASE
)


def secrets_in_commands(commands: Iterable[str]) -> set[str]:
    """The secret values (unquoted) of VyOS `set` commands: what follows a secret keyword."""
    values: set[str] = set()
    for command in commands:
        for match in _STATEMENT_SECRET.finditer(command):
            value = match.group("value")
            if value[:1] in "'\"" and value[-1:] == value[:1] and len(value) >= 2:
                value = value[1:-1]
            if len(value) >= 3:
                values.add(value)
    return values
