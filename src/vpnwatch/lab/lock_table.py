"""The DynamoDB table of an active/standby pair, in the emulated AWS (`lab serve --lock
dynamodb`): created through boto3 over loopback like any other resource of the world.

What the emulation does as DynamoDB does (moto 5.2, checked over HTTP): conditional
PutItem/UpdateItem/DeleteItem fail with ConditionalCheckFailedException (400);
TransactWriteItems with a ConditionCheck is all-or-nothing and is cancelled with
TransactionCanceledException listing the reasons in order, `[ConditionalCheckFailed,
None]`, as the DynamoDB API reference documents; GetItem/Query with ConsistentRead.
What it lacks: TTL never deletes expired items (vpnwatch deletes its own old items and
never relies on TTL), and a replayed ClientRequestToken is not recognised as idempotent
(vpnwatch does not rely on it). Throttling, 5xx and latency come from `lab aws-fault`
(the JSON protocol's `{"__type": ...}` body and x-amzn-ErrorType header).
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from vpnwatch.adapters.dynamodb import decode_item, table_definition
from vpnwatch.lab.clients import lab_client
from vpnwatch.lab.safety import LabError

DEFAULT_TABLE = "vpnwatch-lock"


def create_lock_table(endpoint_url: str, region: str, name: str = DEFAULT_TABLE) -> None:
    """Create the table (once) and wait until it is ACTIVE."""
    client = lab_client("dynamodb", endpoint_url, region)
    with contextlib.suppress(client.exceptions.ResourceInUseException):
        client.create_table(**table_definition(name))
    deadline = time.monotonic() + 30
    while client.describe_table(TableName=name)["Table"]["TableStatus"] != "ACTIVE":
        if time.monotonic() > deadline:
            raise LabError(f"DynamoDB table {name} did not become ACTIVE")
        time.sleep(0.1)


def lock_section(table: str, region: str, lease_seconds: float) -> dict[str, Any]:
    return {"backend": "dynamodb", "table": table, "region": region, "lease_seconds": lease_seconds}


def table_items(endpoint_url: str, region: str, name: str, pk: str) -> list[dict[str, Any]]:
    """One partition's items as plain values (the lease, the state, the audit trail)."""
    client = lab_client("dynamodb", endpoint_url, region)
    items: list[dict[str, Any]] = []
    start: dict[str, Any] | None = None
    while True:
        extra = {"ExclusiveStartKey": start} if start else {}
        page = client.query(
            TableName=name,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": pk}},
            ConsistentRead=True,
            **extra,
        )
        items += [decode_item(item) for item in page.get("Items", [])]
        start = page.get("LastEvaluatedKey")
        if not start:
            return items
