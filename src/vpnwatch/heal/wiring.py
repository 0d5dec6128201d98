"""Heal settings from the config: the mutations' own AWS client and the step deadlines."""

from __future__ import annotations

from vpnwatch.adapters.aws import AwsSettings
from vpnwatch.config import Config
from vpnwatch.heal.replace import Timeouts


def mutation_settings(config: Config) -> AwsSettings:
    """Heals mutate through their own client: longer read timeout, more attempts, backoff
    with full jitter; never the poll budget (a slow RunInstances must not starve the polls)."""
    h = config.heal.aws
    return AwsSettings(
        endpoint_url=config.aws.endpoint_url,
        connect_timeout=h.connect_timeout,
        read_timeout=h.read_timeout,
        max_attempts=h.max_attempts,
        retry_backoff=h.retry_backoff,
        max_concurrency=4,
        retry_max_backoff=h.retry_max_backoff,
        retry_jitter=True,
    )


def heal_timeouts(config: Config) -> Timeouts:
    t = config.heal.timeouts
    return Timeouts(
        terminate=t.terminate, launch=t.launch, ssh=t.ssh, console=t.console, verify=t.verify,
        poll=t.poll, running=t.running, api=t.api, restore=t.restore,
    )  # fmt: skip
