"""User data as VyOS's cloud-init reads it (vyos-cloud-init, branch `current`).

What a VyOS image does with user data, and nothing more:
- `cloudinit/user_data.py` `convert_string`: gzip at the top level is decompressed; a blob
  with `mime-version:` in its first 4096 bytes is a MIME message (decoded as UTF-8),
  anything else is one part whose type comes from how it starts (`#cloud-config`, `#!`...).
- MIME parts of the gzip types are decompressed; `text/plain`, `text/x-not-multipart` and
  `text/x-shellscript` parts get their type from how they start; multipart containers are
  walked into.
- `cloudinit/handlers/cloud_config.py`: the `text/cloud-config` parts are merged in order,
  each with its own mergers (`merge_how`/`merge_type` key or `Merge-Type` header), default
  `list()+dict()+str()` (`cloudinit/mergers`: dict no_replace, list replace).
- `config/cloud.cfg.d/10_vyos.cfg`: only the modules `vyos` (login keys from the instance's
  key pair and `ssh_authorized_keys`), `write_files` and `vyos_userdata`
  (`vyos_config_commands`) run; `cloud_final_modules` is empty, so shell scripts in user
  data never run and no SSH host keys are printed on the console.
"""

from __future__ import annotations

import base64
import email
import email.message
import gzip
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

_GZIP_TYPES = frozenset(
    {
        "application/gzip", "application/gzip-compressed", "application/gzipped",
        "application/x-compress", "application/x-compressed", "application/x-gunzip",
        "application/x-gzip", "application/x-gzip-compressed",
    }
)  # fmt: skip
_TYPE_NEEDED = frozenset({"text/plain", "text/x-not-multipart", "text/x-shellscript"})
_STARTS = (  # cloudinit/handlers INCLUSION_TYPES_MAP, the part this module cares about
    ("#cloud-config-archive", "text/cloud-config-archive"),
    ("#cloud-config", "text/cloud-config"),
    ("#cloud-boothook", "text/cloud-boothook"),
    ("#include", "text/x-include-url"),
    ("#!", "text/x-shellscript"),
)
# cc_vyos_userdata.string_to_command
_COMMAND = re.compile(r"^(?P<action>set|delete) (?P<path>[^\']+)( \'(?P<value>.*)\')*$")
_KEY_NAME = re.compile(r"^\w+$", re.ASCII)


@dataclass(frozen=True)
class WriteFile:
    path: str
    content: bytes
    permissions: int
    append: bool = False


@dataclass(frozen=True)
class UserData:
    """What VyOS's cloud-init takes from a user data blob."""

    ssh_authorized_keys: tuple[str, ...] = ()
    vyos_config_commands: tuple[tuple[str, tuple[str, ...], str | None], ...] = ()
    write_files: tuple[WriteFile, ...] = ()
    problems: tuple[str, ...] = ()  # what cloud-init would log and skip


def _decompress(data: bytes) -> bytes:
    if data[:2] == b"\x1f\x8b":
        return gzip.decompress(data)
    return data


def type_from_start(payload: str) -> str | None:
    for prefix, kind in _STARTS:
        if payload.startswith(prefix):
            return kind
    return None


def _parts(raw: bytes) -> Iterator[tuple[str, str, email.message.Message | None]]:
    """(content type, payload text, part headers) of every leaf part, in order."""
    data = _decompress(raw)
    if b"mime-version:" not in data[:4096].lower():
        text = data.decode("utf-8", "surrogateescape")
        yield type_from_start(text) or "text/plain", text, None
        return
    message = email.message_from_string(data.decode("utf-8"))
    for part in message.walk():
        if part.get_content_maintype() == "multipart":
            continue
        ctype = part.get_content_type()
        payload: Any = part.get_payload(decode=True) or b""
        if ctype in _GZIP_TYPES:
            payload, ctype = gzip.decompress(payload), "text/plain"
        text = payload.decode("utf-8", "surrogateescape") if isinstance(payload, bytes) else ""
        if ctype in _TYPE_NEEDED:
            ctype = type_from_start(text) or ctype
        yield ctype, text, part


# ---------------------------------------------------------------- cloud-init's mergers


@dataclass(frozen=True)
class _Mergers:
    dict_replace: bool = False
    dict_recurse_list: bool = False
    list_method: str = "replace"


def _parse_mergers(spec: Any) -> _Mergers | None:
    if spec is None:
        return None
    settings: dict[str, list[str]] = {}
    if isinstance(spec, str):
        for item in spec.split("+"):
            name, _, opts = item.partition("(")
            settings[name.strip()] = [o.strip() for o in opts.rstrip(")").split(",") if o]
    elif isinstance(spec, list):
        for item in spec:
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                settings[item["name"]] = [str(s) for s in item.get("settings", [])]
    dict_opts, list_opts = settings.get("dict", []), settings.get("list", [])
    method = next((m for m in ("append", "prepend", "no_replace") if m in list_opts), "replace")
    return _Mergers(
        dict_replace="replace" in dict_opts,
        dict_recurse_list=bool({"recurse_array", "recurse_list"} & set(dict_opts)),
        list_method=method,
    )


def _merge(old: dict[str, Any], new: dict[str, Any], how: _Mergers) -> dict[str, Any]:
    out = dict(old)
    for key, value in new.items():
        if key not in out or how.dict_replace:
            out[key] = value
        elif isinstance(value, list) and how.dict_recurse_list and isinstance(out[key], list):
            if how.list_method == "append":
                out[key] = [*out[key], *value]
            elif how.list_method == "prepend":
                out[key] = [*value, *out[key]]
            elif how.list_method == "replace":
                out[key] = value
        elif isinstance(value, dict) and isinstance(out[key], dict):
            out[key] = _merge(out[key], value, how)
        # else: no_replace leaves the old value
    return out


def merged_cloud_config(raw: bytes) -> tuple[dict[str, Any], list[str]]:
    """The cloud-config cloud-init ends up with, and the problems it would log."""
    problems: list[str] = []
    merged: dict[str, Any] = {}
    try:
        parts = list(_parts(raw))
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, ValueError) as exc:
        return {}, [f"user data cannot be read: {type(exc).__name__}"]
    for ctype, text, headers in parts:
        if ctype != "text/cloud-config":
            continue
        try:
            payload = yaml.safe_load(text)
        except yaml.YAMLError:
            problems.append("a cloud-config part is not valid YAML")
            continue
        if not isinstance(payload, dict):
            problems.append("a cloud-config part is not a mapping")
            continue
        spec = payload.pop("merge_how", None) or payload.pop("merge_type", None)
        header = headers.get("Merge-Type") if headers is not None else None
        how = _parse_mergers(spec) or _parse_mergers(header) or _Mergers()
        merged = _merge(merged, payload, how)
    return merged, problems


def _command(line: Any) -> tuple[str, tuple[str, ...], str | None] | None:
    match = _COMMAND.search(line) if isinstance(line, str) else None
    if match is None:
        return None
    return match.group("action"), tuple(match.group("path").split()), match.group("value")


def _write_file(entry: Any) -> WriteFile | None:
    if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
        return None
    content = entry.get("content", "")
    data = content.encode() if isinstance(content, str) else bytes(content or b"")
    encoding = str(entry.get("encoding", "")).lower()
    if encoding in ("b64", "base64"):
        data = base64.b64decode(data)
    elif encoding in ("gz+b64", "gzip+base64", "gz+base64", "gzip+b64"):
        data = gzip.decompress(base64.b64decode(data))
    permissions = entry.get("permissions", "0644")
    mode = int(str(permissions), 8) if isinstance(permissions, str | int) else 0o644
    return WriteFile(entry["path"], data, mode, bool(entry.get("append", False)))


def parse_user_data(raw: bytes) -> UserData:
    """What VyOS's cloud-init modules take from `raw` (bad entries are skipped, as there)."""
    config, problems = merged_cloud_config(raw)
    keys = config.get("ssh_authorized_keys") or []
    commands = [_command(c) for c in config.get("vyos_config_commands") or []]
    files = [_write_file(f) for f in config.get("write_files") or []]
    return UserData(
        ssh_authorized_keys=tuple(k.strip() for k in keys if isinstance(k, str) and k.strip()),
        vyos_config_commands=tuple(c for c in commands if c is not None),
        write_files=tuple(f for f in files if f is not None),
        problems=tuple(problems),
    )


def login_key_name(key_line: str, fallback: str) -> str:
    """cc_vyos.set_ssh_login: the key's comment if it is a plain word, else a generated name."""
    parts = key_line.split()
    comment = parts[2] if len(parts) > 2 else ""
    return comment if _KEY_NAME.match(comment) else fallback
