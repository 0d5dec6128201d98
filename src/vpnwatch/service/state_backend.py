"""Which state store and lease a process uses (`lock.backend`), built in one place.

`none`: the file store in `state_dir` and an flock lease (one host). `dynamodb`: the table
store and the DynamoDB lease (two hosts, active/standby); the lease is kept by a thread of
its own (`DynamoLease.start`), so renewals never wait for a slow cycle.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Any

from vpnwatch.adapters.aws import AwsClient
from vpnwatch.adapters.dynamodb import DynamoTable
from vpnwatch.config import Config
from vpnwatch.statestore.api import Lease, StateStore
from vpnwatch.statestore.dynamo import DynamoStateStore
from vpnwatch.statestore.dynamo_lease import DynamoLease
from vpnwatch.statestore.files import FileStateStore
from vpnwatch.statestore.lease import FileLease


@dataclass
class StateBackend:
    store: StateStore
    lease: Lease
    aws: AwsClient | None = None  # the DynamoDB client, closed with the backend

    def close(self) -> None:
        self.lease.release()
        if self.aws is not None:
            self.aws.close()


def holder_name(config: Config) -> str:
    return config.lock.holder or f"{socket.gethostname()} pid {os.getpid()}"


def open_state(
    config: Config, *, log: Any = None, keep: bool = False, takeover: bool = True
) -> StateBackend:
    """The store and lease of this config. `keep`: start the DynamoDB lease keeper (a
    daemon, or a CLI holding the lease while it acts); `takeover`: the keeper may take a
    lease someone else let lapse (daemons only)."""
    if config.lock.backend != "dynamodb":
        lease = FileLease(config.state_dir)
        return StateBackend(
            FileStateStore(config.state_dir, audit_file=config.audit_file, lease=lease), lease
        )
    lock = config.lock
    assert lock.table is not None  # the config requires it
    settings = config.aws.model_copy(
        update={
            "connect_timeout": lock.connect_timeout,
            "read_timeout": lock.read_timeout,
            "max_attempts": lock.max_attempts,
            "max_concurrency": 4,
        }
    )
    aws = AwsClient(settings)
    table = DynamoTable(aws, lock.region or config.aws.region, lock.table)
    dynamo_lease = DynamoLease(
        table,
        holder=holder_name(config),
        lease_seconds=lock.lease_seconds,
        renew_every=lock.renew_interval,
        margin=lock.safety_margin,
        takeover=takeover,
        log=log,
    )
    store = DynamoStateStore(table, dynamo_lease, mutation_budget=config.aws.call_budget_seconds)
    if keep:
        dynamo_lease.start()
    return StateBackend(store, dynamo_lease, aws)
