"""Every secret the lab knows (PSKs, the SSH private key, AWS secret keys and session
tokens) through the AWS, config and log error paths. The parse path is in
tests/parsers/test_hostile.py, the SSH path in tests/backup/test_hostile_routers.py and
tests/adapters/ (real SSH servers)."""

from __future__ import annotations

import io
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import botocore.exceptions
import pytest

from tests.core.test_config import GOOD
from vpnwatch.adapters.aws import AwsCallFailed, AwsClient, describe_error
from vpnwatch.adapters.vyos import RouterEndpoint, VyosClient
from vpnwatch.config import AwsConfig, SshConfig
from vpnwatch.configfile import parse_config
from vpnwatch.errors import ConfigError
from vpnwatch.lab.ssh_files import new_client_key
from vpnwatch.lab.vpn_details import new_psk
from vpnwatch.logs import configure_logging, get_logger
from vpnwatch.redaction import forget_secrets, remember_secrets

AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@pytest.fixture(autouse=True)
def _empty_registry() -> Iterator[None]:
    forget_secrets()
    yield
    forget_secrets()


@pytest.fixture
def lab_secrets(tmp_path: Path) -> list[str]:
    """One of each kind: a PSK, the lines of an SSH private key, an AWS secret key."""
    key_lines = [
        line
        for line in new_client_key(tmp_path).private_file.read_text().splitlines()
        if line and not line.startswith("-----")
    ]
    return [new_psk(), AWS_SECRET, *key_lines]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_aws_client_errors_with_a_secret_in_their_text() -> None:
    error = botocore.exceptions.ClientError(
        {
            "Error": {
                "Code": "SignatureDoesNotMatch",
                "Message": f"Check your AWS Secret Access Key. StringToSign: x secret={AWS_SECRET}",
            }
        },
        "DescribeInstances",
    )
    text = describe_error(error)
    assert AWS_SECRET not in text and text.startswith("DescribeInstances: SignatureDoesNotMatch")


def test_aws_connection_errors_never_show_url_credentials() -> None:
    url = f"http://AKIAEXAMPLE:{AWS_SECRET.replace('/', 'x')}@127.0.0.1:{closed_port()}"
    settings = AwsConfig(
        endpoint_url=url, connect_timeout=0.5, read_timeout=0.5, max_attempts=1,
        retry_backoff=0.01, max_concurrency=2,
    )  # fmt: skip
    client = AwsClient(settings)
    try:
        with pytest.raises(AwsCallFailed) as caught:
            client.call_sync("ec2", "us-east-1", "describe_instances")
    finally:
        client.close()
    assert AWS_SECRET.replace("/", "x") not in str(caught.value)


@pytest.mark.parametrize(
    "key", ["AWS__ENDPOINT_URL", "LOCK__BACKEND", "SSH__PORT", "METRICS__LISTEN", "AWS__TOKEN"]
)
def test_config_problems_never_show_a_secret(lab_secrets: list[str], key: str) -> None:
    remember_secrets(lab_secrets[:1])  # a PSK the process knows (from a pulled config)
    for secret in lab_secrets:
        value = f"http://u:{secret}@127.0.0.1:1" if key == "AWS__ENDPOINT_URL" else secret
        try:
            parse_config(
                GOOD.replace("us-east-1", "bad region!"), environ={f"VPNWATCH_{key}": value}
            )
        except ConfigError as error:
            assert secret not in " | ".join(error.problems)
        else:
            raise AssertionError("the region is invalid: the config must be refused")


def test_log_lines_never_show_a_lab_secret(lab_secrets: list[str], tmp_path: Path) -> None:
    remember_secrets(lab_secrets[:1])  # a PSK the process knows (from a pulled config)
    pem = (tmp_path / "id_ed25519").read_text()  # the lab's key (written by lab_secrets)
    out = io.StringIO()
    configure_logging("json", "info", stream=out)
    get_logger("t").warning("boom", error=f"the file held {pem}", raw=pem)
    for secret in lab_secrets[:2]:
        get_logger("t").warning("boom", error=f"router said secret {secret}", raw=secret)
    text = out.getvalue()
    assert [json.loads(line)["event"] for line in text.splitlines()] == ["boom"] * 3
    assert not [s for s in lab_secrets if s in text]


async def test_the_ssh_key_lines_are_known_once_the_adapter_loaded_the_key(
    lab_secrets: list[str], tmp_path: Path
) -> None:
    """A key line quoted without its markers is only recognisable because the adapter,
    loading its key, made its lines known secrets."""
    (tmp_path / "kh").write_text("")
    client = VyosClient(
        SshConfig(
            user="vyos", key_file=tmp_path / "id_ed25519", known_hosts=tmp_path / "kh",
            connect_timeout=1, command_timeout=1, keepalive_interval=30, max_concurrency=1,
            max_output_bytes=4096,
        )
    )  # fmt: skip
    try:
        view = await client.observe(RouterEndpoint("r1", "127.0.0.1", closed_port()))
    finally:
        await client.close()
    assert not view.reachable
    out = io.StringIO()
    configure_logging("json", "info", stream=out)
    for line in lab_secrets[2:]:
        get_logger("t").warning("boom", quoted=line)
    assert not [s for s in lab_secrets[2:] if s in out.getvalue()]
