"""The stored documents: JSON envelopes `{"version": 1, "data": ...}` validated by pydantic
(strict: no coercion, no unknown fields). A version this vpnwatch does not know is refused,
never guessed at. Version 0 is what vpnwatch wrote before the envelope (bare objects): it is
read, and written back as version 1 at the next save."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import ConfigDict, TypeAdapter, ValidationError, create_model

from vpnwatch.core.memory import GuardMemory, RouterHistory
from vpnwatch.core.records import HealRecord, OperatorRequest
from vpnwatch.statestore.api import Fleet

VERSION = 1
MAX_DOCUMENT_BYTES = 4 * 1024 * 1024  # a state document is kilobytes; more is not one
T = TypeVar("T")


class Unreadable(Exception):
    """A document that is there but cannot be used; the message says why (never its text)."""


@dataclass(frozen=True)
class Control:
    paused: bool = False  # by an operator's request


@dataclass(frozen=True)
class Hysteresis:
    routers: dict[str, RouterHistory] = field(default_factory=dict)


_STRICT = ConfigDict(extra="forbid", strict=True)


class Kind(Generic[T]):
    """One kind of document: its schema, and whether a version 0 (bare object) exists."""

    def __init__(
        self, name: str, kind: type[T], legacy: Callable[[dict[str, Any]], dict[str, Any]] | None
    ) -> None:
        self.name = name
        self._data: TypeAdapter[T] = TypeAdapter(kind)
        envelope = create_model(  # {"version": int, "data": kind}, strict
            f"{kind.__name__}Document", __config__=_STRICT, version=(int, ...), data=(kind, ...)
        )
        self._envelope: TypeAdapter[Any] = TypeAdapter(envelope)
        self._legacy = legacy  # version 0 → the data of version 1

    def decode(self, raw: bytes) -> T:
        if len(raw) > MAX_DOCUMENT_BYTES:
            raise Unreadable(f"larger than {MAX_DOCUMENT_BYTES} bytes")
        try:
            value = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            where = f" at line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else ""
            raise Unreadable(f"not JSON{where}") from None
        if not isinstance(value, dict):
            what = "null" if value is None else f"a JSON {type(value).__name__}"
            raise Unreadable(f"not a JSON object ({what})")
        if "version" not in value:
            if self._legacy is None:
                raise Unreadable("no schema version")
            value = {"version": VERSION, "data": self._legacy(value)}
            raw = json.dumps(value).encode()
        version = value["version"]
        if version != VERSION or isinstance(version, bool):
            raise Unreadable(
                f"schema version {version!r} is unknown (this vpnwatch reads version {VERSION})"
            )
        try:
            data: T = self._envelope.validate_json(raw).data
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = (
                first["loc"][1:]
                if first["loc"][:1] == ("data",) and len(first["loc"]) > 1
                else first["loc"]
            )
            path = ".".join(str(p) for p in loc) or "(top level)"
            msg = f"does not match the {self.name} schema at {path}: {first['msg']}"
            raise Unreadable(msg) from None
        except (TypeError, ValueError) as exc:  # a record's own checks (__post_init__)
            raise Unreadable(f"does not match the {self.name} schema: {exc}") from None
        return data

    def encode(self, value: T) -> bytes:
        data = self._data.dump_python(value, mode="json")
        text = json.dumps({"version": VERSION, "data": data}, indent=2, sort_keys=True)
        return text.encode() + b"\n"


def _as_is(value: dict[str, Any]) -> dict[str, Any]:
    return value


def _legacy_guards(value: dict[str, Any]) -> dict[str, Any]:
    """guards.json before the envelope carried its mode; the store split the file by it."""
    return {k: v for k, v in value.items() if k != "dry_run"}


GUARDS = Kind("guards", GuardMemory, None)
LEGACY_GUARDS = Kind("guards", GuardMemory, _legacy_guards)
HYSTERESIS = Kind("hysteresis", Hysteresis, None)
CONTROL = Kind("control", Control, None)
FLEET = Kind("fleet", Fleet, _as_is)
HEAL = Kind("heal record", HealRecord, _as_is)
REQUEST = Kind("request", OperatorRequest, None)
