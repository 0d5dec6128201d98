"""What the DynamoDB backend needs of a table (`adapters/dynamodb.DynamoTable` is one).

The store and the lease never import the adapter (the layers keep them apart); the
composition root hands them one. Items are plain mappings; a failed condition raises
`vpnwatch.errors.ConditionFailed`, an unusable table a `TemporaryError` (throttled,
unreachable) or a `PermanentError` (access denied, no such table).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

Value = str | int | float | bool
Item = dict[str, Value]


class Table(Protocol):
    name: str

    def get(self, pk: str, sk: str) -> Item | None:
        """Strongly consistent."""
        ...

    def query(self, pk: str) -> list[Item]:
        """A whole partition, strongly consistent, in sort key order."""
        ...

    def put(
        self,
        item: Mapping[str, Value],
        *,
        condition: str | None = None,
        values: Mapping[str, Value] | None = None,
    ) -> None: ...

    def update(
        self,
        pk: str,
        sk: str,
        changes: Mapping[str, Value],
        *,
        condition: str,
        values: Mapping[str, Value] | None = None,
    ) -> None: ...

    def delete(
        self,
        pk: str,
        sk: str,
        *,
        condition: str | None = None,
        values: Mapping[str, Value] | None = None,
    ) -> None: ...

    def transact(self, writes: Sequence[Mapping[str, Any]]) -> None:
        """{"check": (pk, sk)} | {"put": item} | {"delete": (pk, sk)}, each with an optional
        "condition" and "values"; all or nothing."""
        ...
