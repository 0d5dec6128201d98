"""The DynamoDB backend against the emulated AWS (moto over HTTP on loopback): a fresh
table per test, and a fake monotonic clock the lease reads (no sleeping, no real time)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from vpnwatch.adapters.aws import AwsClient
from vpnwatch.adapters.dynamodb import DynamoTable
from vpnwatch.config import AwsConfig
from vpnwatch.lab.aws_world import EmulatedAws
from vpnwatch.lab.lock_table import create_lock_table

REGION = "us-east-1"


@pytest.fixture(scope="module")
def emulated_aws() -> Iterator[EmulatedAws]:
    with EmulatedAws(refresh_interval=None) as aws:
        yield aws


@pytest.fixture
def aws_client(emulated_aws: EmulatedAws) -> Iterator[AwsClient]:
    emulated_aws.clear_faults()
    settings = AwsConfig(
        region=REGION,
        endpoint_url=emulated_aws.endpoint_url,
        connect_timeout=0.5,
        read_timeout=0.5,
        max_attempts=2,
        retry_backoff=0.05,
    )
    client = AwsClient(settings)
    try:
        yield client
    finally:
        client.close()
        emulated_aws.clear_faults()


@pytest.fixture
def table(emulated_aws: EmulatedAws, aws_client: AwsClient) -> DynamoTable:
    name = f"vpnwatch-{secrets.token_hex(4)}"
    create_lock_table(emulated_aws.endpoint_url, REGION, name)
    return DynamoTable(aws_client, REGION, name)


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeMonotonic:
    return FakeMonotonic()
