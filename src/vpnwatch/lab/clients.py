"""boto3 clients for the emulated world: loopback endpoints and dummy credentials only."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from vpnwatch.lab.safety import DEFAULT_REGION, DUMMY_CREDENTIALS, require_loopback_url


def lab_client(
    service: str,
    endpoint_url: str,
    region: str = DEFAULT_REGION,
    *,
    total_max_attempts: int = 3,
    read_timeout: float = 10.0,
    connect_timeout: float = 2.0,
) -> Any:
    """A boto3 client for `service` at the emulator; NotLoopbackError for any other endpoint.

    Credentials are always the dummy ones, never whatever the environment holds.
    """
    require_loopback_url(endpoint_url)
    config = Config(
        retries={"mode": "standard", "total_max_attempts": total_max_attempts},
        read_timeout=read_timeout,
        connect_timeout=connect_timeout,
    )
    return boto3.session.Session().client(
        service,  # type: ignore[call-overload]
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        config=config,
    )
