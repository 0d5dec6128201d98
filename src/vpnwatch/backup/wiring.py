"""Building the store and the manager from the configuration (used by the CLI and the app)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from vpnwatch.adapters.aws import AwsClient
from vpnwatch.backup.manager import BackupManager, ConfigSource
from vpnwatch.backup.store import BackupStore, LocalStore, S3Store
from vpnwatch.config import Config
from vpnwatch.metrics import ControlState


def store_for_config(
    config: Config, aws: AwsClient | None, *, clock: Callable[[], float] = time.time
) -> BackupStore:
    """backup.store: `dir` (default `<state_dir>/backups`) or `s3` (needs the AWS client)."""
    backup = config.backup
    if backup.store == "s3":
        s3 = backup.s3
        assert s3 is not None  # the config refuses store: s3 without an s3 section
        if aws is None:
            raise ValueError("backup.store is s3: an AWS client is needed")
        region = s3.region or config.aws.region
        return S3Store(aws, region, s3.bucket, s3.prefix, s3.kms_key_id, backup.keep, clock=clock)
    return LocalStore(config.backup_dir, backup.keep, clock=clock)


def manager_for_config(
    config: Config,
    store: BackupStore,
    source: ConfigSource,
    *,
    control: ControlState | None = None,
    clock: Callable[[], float] = time.time,
    log: Any = None,
) -> BackupManager:
    # A pull is one command plus a few store calls: allow a generous multiple of both budgets.
    budget = config.ssh.connect_timeout + 2 * config.ssh.command_timeout
    budget += 6 * config.aws.call_budget_seconds
    return BackupManager(
        store,
        source,
        strip_sections=config.backup.strip_sections,
        interval=config.backup.interval,
        pull_timeout=max(30.0, budget),
        control=control,
        clock=clock,
        log=log,
    )
