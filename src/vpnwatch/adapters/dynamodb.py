"""DynamoDB for the shared state store and the leader lease, over `AwsClient` (which owns
boto3, its timeouts and the retry budget; this module imports no boto3).

Items are plain Python mappings (str → S, int/float → N, bool → BOOL). Expressions are
DynamoDB's own; attribute names are written `#name` and mapped here, so a reserved word
(`status`, `time`) never needs thought at the call site. Errors come out as:

- `ConditionFailed` (vpnwatch.errors): the condition of a conditional write, or of one
  write of a transaction, was false; `.items` says which (parsed from the cancellation
  reasons DynamoDB lists in the message, `[ConditionalCheckFailed, None]`);
- `DynamoUnavailable` (temporary): throttled, a transaction conflict, 5xx, timeouts;
- `AwsAccessDenied`, `AwsApiError` (permanent): IAM, a missing table, a bad request.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from vpnwatch.adapters.aws import AwsApiError, AwsCallFailed, AwsClient
from vpnwatch.errors import ConditionFailed, TemporaryError

Value = str | int | float | bool
Item = dict[str, Value]

# DynamoDB errors worth retrying later (the AwsClient already retries its own list).
_TEMPORARY = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TransactionConflictException",
        "TransactionInProgressException",
        "InternalServerError",
        "ServiceUnavailable",
        "LimitExceededException",
    }
)
_NAME = re.compile(r"#([A-Za-z_][A-Za-z0-9_]*)")
_REASONS = re.compile(r"\[([A-Za-z, ]+)\]\s*$")

# The table: a string partition key and a string sort key, on demand (see docs/deploy.md).
KEY_SCHEMA = (("pk", "HASH"), ("sk", "RANGE"))


def table_definition(name: str) -> dict[str, Any]:
    """CreateTable arguments for the vpnwatch table (the lab and docs/deploy.md use it)."""
    return {
        "TableName": name,
        "KeySchema": [{"AttributeName": a, "KeyType": k} for a, k in KEY_SCHEMA],
        "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a, _ in KEY_SCHEMA],
        "BillingMode": "PAY_PER_REQUEST",
    }


class DynamoUnavailable(TemporaryError):
    """DynamoDB could not be used right now (throttling, conflicts, 5xx): try again later."""


def _attr(value: Value) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float):
        return {"N": repr(value) if isinstance(value, float) else str(value)}
    if isinstance(value, str):
        return {"S": value}
    raise TypeError(f"no DynamoDB type for {type(value).__name__}")


def _value(attr: Mapping[str, Any]) -> Value:
    if "S" in attr:
        return str(attr["S"])
    if "BOOL" in attr:
        return bool(attr["BOOL"])
    if "N" in attr:
        number = Decimal(str(attr["N"]))
        return int(number) if number == number.to_integral_value() else float(number)
    raise ValueError(f"unexpected DynamoDB attribute type {sorted(attr)}")


def encode_item(item: Mapping[str, Value]) -> dict[str, Any]:
    return {name: _attr(value) for name, value in item.items()}


def decode_item(item: Mapping[str, Any]) -> Item:
    return {name: _value(attr) for name, attr in item.items()}


def _expression(
    text: str | None, values: Mapping[str, Value] | None, *, also: str = ""
) -> dict[str, Any]:
    """ConditionExpression with its names (`#x` → x) and values."""
    out: dict[str, Any] = {}
    if text:
        out["ConditionExpression"] = text
    names = {f"#{n}": n for n in _NAME.findall(f"{text or ''} {also}")}
    if names:
        out["ExpressionAttributeNames"] = names
    if values:
        out["ExpressionAttributeValues"] = {k: _attr(v) for k, v in values.items()}
    return out


def _reasons(message: str) -> tuple[str, ...]:
    match = _REASONS.search(message)
    return tuple(r.strip() for r in match.group(1).split(",")) if match else ()


class DynamoTable:
    """One table, one region; every call is one API call with the client's retry budget."""

    def __init__(self, aws: AwsClient, region: str, table: str) -> None:
        self._aws = aws
        self._region = region
        self.name = table

    def _call(self, operation: str, **kwargs: Any) -> Any:
        try:
            return self._aws.call_sync("dynamodb", self._region, operation, **kwargs)
        except AwsApiError as exc:
            if exc.code == "ConditionalCheckFailedException":
                raise ConditionFailed(f"{operation}: condition failed", (0,)) from None
            if exc.code == "TransactionCanceledException":
                reasons = _reasons(str(exc))
                failed = tuple(i for i, r in enumerate(reasons) if r == "ConditionalCheckFailed")
                if failed:
                    raise ConditionFailed(f"{operation}: condition failed", failed) from None
                raise DynamoUnavailable(f"{operation}: cancelled ({', '.join(reasons)})") from None
            if exc.code in _TEMPORARY:
                raise DynamoUnavailable(str(exc)) from None
            raise
        except AwsCallFailed as exc:
            raise DynamoUnavailable(str(exc)) from None

    def _key(self, pk: str, sk: str) -> dict[str, Any]:
        return {"pk": {"S": pk}, "sk": {"S": sk}}

    def get(self, pk: str, sk: str) -> Item | None:
        """A strongly consistent read of one item."""
        answer = self._call(
            "get_item", TableName=self.name, Key=self._key(pk, sk), ConsistentRead=True
        )
        item = answer.get("Item")
        return decode_item(item) if item else None

    def query(self, pk: str) -> list[Item]:
        """Every item of a partition, strongly consistent, sort key order, all pages."""
        items: list[Item] = []
        start: dict[str, Any] | None = None
        while True:
            extra = {"ExclusiveStartKey": start} if start else {}
            page = self._call(
                "query",
                TableName=self.name,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": pk}},
                ConsistentRead=True,
                **extra,
            )
            items += [decode_item(i) for i in page.get("Items", [])]
            start = page.get("LastEvaluatedKey")
            if not start:
                return items

    def put(
        self,
        item: Mapping[str, Value],
        *,
        condition: str | None = None,
        values: Mapping[str, Value] | None = None,
    ) -> None:
        self._call(
            "put_item",
            TableName=self.name,
            Item=encode_item(item),
            **_expression(condition, values),
        )

    def update(
        self,
        pk: str,
        sk: str,
        changes: Mapping[str, Value],
        *,
        condition: str,
        values: Mapping[str, Value] | None = None,
    ) -> None:
        """SET each of `changes` if `condition` holds."""
        setters = ", ".join(f"#{name} = :set_{name}" for name in changes)
        merged = {**(values or {}), **{f":set_{n}": v for n, v in changes.items()}}
        self._call(
            "update_item",
            TableName=self.name,
            Key=self._key(pk, sk),
            UpdateExpression=f"SET {setters}",
            **_expression(condition, merged, also=setters),
        )

    def delete(
        self,
        pk: str,
        sk: str,
        *,
        condition: str | None = None,
        values: Mapping[str, Value] | None = None,
    ) -> None:
        self._call(
            "delete_item",
            TableName=self.name,
            Key=self._key(pk, sk),
            **_expression(condition, values),
        )

    def transact(self, writes: Sequence[Mapping[str, Any]]) -> None:
        """All or nothing. Each write is {"check": (pk, sk)} or {"put": item} or
        {"delete": (pk, sk)}, with an optional "condition" and "values"."""
        items: list[dict[str, Any]] = []
        for write in writes:
            expr = _expression(write.get("condition"), write.get("values"))
            if "check" in write:
                pk, sk = write["check"]
                items.append(
                    {"ConditionCheck": {"TableName": self.name, "Key": self._key(pk, sk), **expr}}
                )
            elif "put" in write:
                items.append(
                    {"Put": {"TableName": self.name, "Item": encode_item(write["put"]), **expr}}
                )
            elif "delete" in write:
                pk, sk = write["delete"]
                items.append({"Delete": {"TableName": self.name, "Key": self._key(pk, sk), **expr}})
            else:
                raise ValueError(f"unknown transaction write {sorted(write)}")
        self._call("transact_write_items", TransactItems=items)
