"""Fault injection, the control API and the loopback guards of the emulated AWS."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from vpnwatch.lab.aws_world import EmulatedAws
from vpnwatch.lab.clients import lab_client
from vpnwatch.lab.runtime import ControlClient
from vpnwatch.lab.safety import LabError, NotLoopbackError, ensure_dummy_credentials
from vpnwatch.lab.topology import build_topology


@pytest.fixture(scope="module")
def aws() -> Iterator[EmulatedAws]:
    with EmulatedAws(refresh_interval=None) as emulated:
        yield emulated


@pytest.fixture(autouse=True)
def _no_faults_left(aws: EmulatedAws) -> Iterator[None]:
    yield
    aws.clear_faults()


@pytest.fixture
def ec2(aws: EmulatedAws) -> Any:
    return lab_client("ec2", aws.endpoint_url, total_max_attempts=1)


def _code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response: Any = exc.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def test_throttle_twice_then_success(aws: EmulatedAws, ec2: Any) -> None:
    aws.add_fault("DescribeVpnConnections", "RequestLimitExceeded", count=2)
    for _ in range(2):
        with pytest.raises(ClientError) as exc:
            ec2.describe_vpn_connections()
        assert _code(exc) == ("RequestLimitExceeded", 503)
    assert ec2.describe_vpn_connections()["VpnConnections"] is not None
    assert aws.faults() == []


def test_botocore_retries_through_an_injected_throttle(aws: EmulatedAws) -> None:
    aws.add_fault("DescribeVpcs", "RequestLimitExceeded", count=1)
    retrying = lab_client("ec2", aws.endpoint_url, total_max_attempts=2)
    result = retrying.describe_vpcs()
    assert result["ResponseMetadata"]["RetryAttempts"] == 1


def test_forever_rule_lasts_until_cleared(aws: EmulatedAws, ec2: Any) -> None:
    aws.add_fault("DescribeInstances", "InternalError", count=-1)
    for _ in range(3):
        with pytest.raises(ClientError) as exc:
            ec2.describe_instances()
        assert _code(exc) == ("InternalError", 500)
    [rule] = aws.faults()
    assert (rule.count, rule.hits) == (-1, 3)
    assert aws.clear_faults("DescribeInstances") == 1
    assert "Reservations" in ec2.describe_instances()


def test_rule_hits_only_its_action(aws: EmulatedAws, ec2: Any) -> None:
    aws.add_fault("DescribeInstances", "Unavailable", status=503)
    assert "Vpcs" in ec2.describe_vpcs()
    with pytest.raises(ClientError) as exc:
        ec2.describe_instances()
    assert _code(exc) == ("Unavailable", 503)


def test_delay_rule_slows_the_call_down(aws: EmulatedAws) -> None:
    impatient = lab_client("ec2", aws.endpoint_url, total_max_attempts=1, read_timeout=0.2)
    aws.add_fault("DescribeVpcs", delay=0.6)
    with pytest.raises(ReadTimeoutError):
        impatient.describe_vpcs()
    aws.add_fault("DescribeVpcs", delay=0.1)  # delay only: the call then goes through
    patient = lab_client("ec2", aws.endpoint_url, total_max_attempts=1, read_timeout=5)
    assert "Vpcs" in patient.describe_vpcs()
    assert aws.faults() == []


def test_dynamodb_and_s3_faults_speak_their_protocols(aws: EmulatedAws) -> None:
    ddb = lab_client("dynamodb", aws.endpoint_url, total_max_attempts=1)
    aws.add_fault("ListTables", "ProvisionedThroughputExceededException")
    with pytest.raises(ClientError) as exc:
        ddb.list_tables()
    assert _code(exc) == ("ProvisionedThroughputExceededException", 400)
    assert "TableNames" in ddb.list_tables()
    s3 = lab_client("s3", aws.endpoint_url, total_max_attempts=1)
    s3.create_bucket(Bucket="lab-faults")
    aws.add_fault("PutObject", "SlowDown")
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket="lab-faults", Key="a/b.txt", Body=b"x")
    assert _code(exc) == ("SlowDown", 503)
    s3.put_object(Bucket="lab-faults", Key="a/b.txt", Body=b"x")
    assert s3.get_object(Bucket="lab-faults", Key="a/b.txt")["Body"].read() == b"x"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"code": "Throttling", "count": 0}, "count"),
        ({"code": "Throttling", "status": 200}, "status"),
        ({"code": "not a code"}, "code"),
        ({}, "needs an error code"),
        ({"delay": -1.0}, "delay"),
    ],
)
def test_bad_fault_rules_are_refused(aws: EmulatedAws, kwargs: Any, message: str) -> None:
    with pytest.raises(LabError, match=message):
        aws.add_fault("DescribeVpcs", **kwargs)
    assert aws.faults() == []


def test_control_api_drives_faults_over_http(aws: EmulatedAws, ec2: Any) -> None:
    control = ControlClient(aws.endpoint_url)
    rule = control.add_fault("DescribeVpcs", "RequestLimitExceeded", count=1)
    assert (rule["action"], rule["status"], rule["count"]) == ("DescribeVpcs", 503, 1)
    with pytest.raises(ClientError):
        ec2.describe_vpcs()
    control.add_fault("DescribeVpcs", "RequestLimitExceeded", count=-1)
    assert control.clear_faults() == 1
    assert "Vpcs" in ec2.describe_vpcs()
    with pytest.raises(LabError, match="count"):
        control.add_fault("DescribeVpcs", "Throttling", count=0)
    with pytest.raises(LabError, match="no tunnel"):
        control.set_tunnel("vpn-0000000000000000a", "198.51.100.1", "DOWN")


def test_control_api_answers_unknown_routes_and_bad_bodies(aws: EmulatedAws) -> None:
    def call(method: str, path: str, data: bytes | None = None) -> tuple[int, Any]:
        req = urllib.request.Request(aws.endpoint_url + path, data=data, method=method)
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    assert call("GET", "/_lab/nothing")[0] == 404
    assert call("PUT", "/_lab/faults")[0] == 405
    status, body = call("POST", "/_lab/faults", b"{not json")
    assert (status, body["error"]) == (400, "request body is not JSON")
    status, body = call("POST", "/_lab/faults", b'{"action": 5}')
    assert (status, body["error"]) == (400, "field 'action' must be str")
    status, body = call("GET", "/_lab/health")
    assert (status, body["ok"], body["endpoint_url"]) == (200, True, aws.endpoint_url)


def test_create_vpn_connection_honours_and_checks_tunnel_options(
    aws: EmulatedAws, ec2: Any
) -> None:
    cgw = ec2.create_customer_gateway(BgpAsn=65010, PublicIp="127.0.9.9", Type="ipsec.1")
    cgw_id = cgw["CustomerGateway"]["CustomerGatewayId"]
    vgw_id = ec2.create_vpn_gateway(Type="ipsec.1")["VpnGateway"]["VpnGatewayId"]
    asked = {"TunnelInsideCidr": "169.254.200.0/30", "PreSharedKey": "lab_psk.12345"}
    vpn_id = ec2.create_vpn_connection(
        Type="ipsec.1",
        CustomerGatewayId=cgw_id,
        VpnGatewayId=vgw_id,
        Options={"StaticRoutesOnly": True, "TunnelOptions": [asked]},
    )["VpnConnection"]["VpnConnectionId"]
    described = ec2.describe_vpn_connections(VpnConnectionIds=[vpn_id])["VpnConnections"][0]
    first, second = described["Options"]["TunnelOptions"]
    assert (first["TunnelInsideCidr"], first["PreSharedKey"]) == tuple(asked.values())
    assert second["TunnelInsideCidr"] != first["TunnelInsideCidr"]
    assert described["Options"]["StaticRoutesOnly"] is True
    assert "169.254.200.2" in described["CustomerGatewayConfiguration"]
    for cidr in ("169.254.200.0/30", "169.254.169.252/30", "169.254.7.1/30", "10.0.0.0/30"):
        with pytest.raises(ClientError) as exc:
            ec2.create_vpn_connection(
                Type="ipsec.1",
                CustomerGatewayId=cgw_id,
                VpnGatewayId=vgw_id,
                Options={"TunnelOptions": [{"TunnelInsideCidr": cidr}]},
            )
        assert _code(exc) == ("InvalidParameterValue", 400)


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "::", "example.com", "192.0.2.1"])
def test_refuses_to_bind_anything_but_loopback(host: str) -> None:
    with pytest.raises(NotLoopbackError, match="loopback"):
        EmulatedAws(host=host)


@pytest.mark.parametrize(
    "url", ["http://10.1.2.3:5000", "https://ec2.us-east-1.amazonaws.com", "ftp://127.0.0.1/"]
)
def test_refuses_to_talk_to_anything_but_loopback(url: str) -> None:
    with pytest.raises(NotLoopbackError):
        build_topology(url)
    with pytest.raises(NotLoopbackError):
        lab_client("ec2", url)
    with pytest.raises(NotLoopbackError):
        ControlClient(url)


def test_only_one_emulated_aws_per_process(aws: EmulatedAws) -> None:
    second = EmulatedAws()
    with pytest.raises(LabError, match="already runs"):
        second.start()
    assert not second.running
    assert aws.running


def test_dummy_credentials_fill_only_what_is_missing() -> None:
    env = {"AWS_ACCESS_KEY_ID": "mine"}
    ensure_dummy_credentials(env, region="eu-west-1")
    assert env == {
        "AWS_ACCESS_KEY_ID": "mine",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }


def test_reset_empties_moto_and_forgets_faults(aws: EmulatedAws, ec2: Any) -> None:
    ec2.create_customer_gateway(BgpAsn=65001, PublicIp="127.0.8.8", Type="ipsec.1")
    aws.add_fault("DescribeVpcs", "Throttling", count=-1)
    aws.reset()
    assert ec2.describe_customer_gateways()["CustomerGateways"] == []
    assert aws.faults() == []
    assert aws.tunnels() == []
