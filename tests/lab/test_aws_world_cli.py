"""`vpnwatch lab serve` as a separate process, driven by the other `vpnwatch lab` commands."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest
from botocore.exceptions import ReadTimeoutError

from vpnwatch.lab.clients import lab_client

READY = re.compile(
    r"^vpnwatch lab: ready endpoint=(http://127\.0\.0\.1:\d+) config=(\S+) "
    r"routers=6 vpn_connections=8 tunnels=16 simulated_routers=6$"
)


@dataclass
class Served:
    proc: subprocess.Popen[str]
    lines: queue.Queue[str]
    endpoint: str
    config: Path
    env: dict[str, str]
    runtime_dir: Path


def _pump(stream: IO[str], lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line.rstrip("\n"))


def _lab(served: Served, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vpnwatch", "lab", *args],
        env=served.env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    base = tmp_path_factory.mktemp("lab-serve")
    env = {**os.environ, "XDG_RUNTIME_DIR": str(base)}
    config = base / "etc" / "vpnwatch.yaml"
    proc = subprocess.Popen(
        [sys.executable, "-m", "vpnwatch", "lab", "serve", "--write-config", str(config),
         "--state-dir", str(base / "state")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True).start()
    try:
        first = lines.get(timeout=60)
        match = READY.match(first)
        assert match, f"not a ready line: {first!r}"
        assert Path(match.group(2)) == config
        yield Served(proc, lines, match.group(1), config, env, base / "vpnwatch-lab")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_state_json_finds_the_world_by_its_runtime_record(served: Served) -> None:
    done = _lab(served, "state", "--json")
    assert done.returncode == 0, done.stderr
    state = json.loads(done.stdout)
    routers = sorted(i["router"] for i in state["instances"])
    assert routers == ["hub-r1", "hub-r2", "spoke1-r1", "spoke1-r2", "spoke2-r1", "spoke2-r2"]
    for inst in state["instances"]:
        assert set(inst) >= {"instance_id", "router", "state", "private_ip", "public_ip",
                             "source_dest_check"}  # fmt: skip
        assert (inst["state"], inst["source_dest_check"]) == ("running", False)
    assert len(state["vpn_connections"]) == 8
    tunnels = [t for c in state["vpn_connections"] for t in c["tunnels"]]
    assert {t["status"] for t in tunnels} == {"UP"}
    assert len({t["outside_ip"] for t in tunnels}) == 16
    [record] = list(served.runtime_dir.glob("world-*.json"))
    assert json.loads(record.read_text())["pid"] == served.proc.pid


def test_tunnel_down_shows_in_describe_vpn_connections(served: Served) -> None:
    state = json.loads(_lab(served, "state", "--json", "--config", str(served.config)).stdout)
    conn = state["vpn_connections"][3]
    outside = conn["tunnels"][1]["outside_ip"]
    done = _lab(served, "tunnel", conn["id"], outside, "down")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "DOWN"
    ec2 = lab_client("ec2", served.endpoint, total_max_attempts=1)
    described = ec2.describe_vpn_connections(VpnConnectionIds=[conn["id"]])["VpnConnections"][0]
    status = {t["OutsideIpAddress"]: t["Status"] for t in described["VgwTelemetry"]}
    assert status[outside] == "DOWN"
    assert sorted(status.values()) == ["DOWN", "UP"]
    refused = _lab(served, "tunnel", conn["id"], "203.0.113.250", "down")
    assert refused.returncode == 1
    assert "no tunnel 203.0.113.250" in refused.stderr


def test_aws_fault_command_reaches_the_api(served: Served) -> None:
    done = _lab(served, "aws-fault", "DescribeInstances", "--code", "RequestLimitExceeded",
                "--count", "1")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == 503
    ec2: Any = lab_client("ec2", served.endpoint, total_max_attempts=1)
    with pytest.raises(ec2.exceptions.ClientError, match="RequestLimitExceeded"):
        ec2.describe_instances()
    assert "Reservations" in ec2.describe_instances()
    _lab(served, "aws-fault", "DescribeInstances", "--code", "InternalError", "--count", "-1")
    cleared = _lab(served, "aws-fault", "all", "--clear")
    assert cleared.stdout.strip() == "cleared 1 fault rule(s)"
    assert "Reservations" in ec2.describe_instances()


def test_aws_fault_command_throttles_fails_and_slows_dynamodb(served: Served) -> None:
    """What a leader losing its lock table meets: throttling, a 5xx, latency (issue 11)."""
    ddb: Any = lab_client("dynamodb", served.endpoint, total_max_attempts=1, read_timeout=0.5)
    ddb.create_table(
        TableName="fault-lock",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    key = {"pk": {"S": "lease"}}
    ddb.put_item(TableName="fault-lock", Item=key)
    throttled = _lab(served, "aws-fault", "UpdateItem", "--code", "ThrottlingException")
    assert throttled.returncode == 0, throttled.stderr
    assert json.loads(throttled.stdout)["status"] == 400  # DynamoDB throttles with a 400
    failed = _lab(served, "aws-fault", "GetItem", "--code", "InternalServerError")
    assert json.loads(failed.stdout)["status"] == 500
    slowed = _lab(served, "aws-fault", "Query", "--delay", "1.5")
    assert json.loads(slowed.stdout)["code"] is None
    update = {"TableName": "fault-lock", "Key": key, "UpdateExpression": "SET v = :v",
              "ExpressionAttributeValues": {":v": {"N": "1"}}}  # fmt: skip
    with pytest.raises(ddb.exceptions.ClientError) as exc:
        ddb.update_item(**update)
    assert exc.value.response["Error"]["Code"] == "ThrottlingException"
    with pytest.raises(ddb.exceptions.ClientError) as exc:
        ddb.get_item(TableName="fault-lock", Key=key)
    assert exc.value.response["Error"]["Code"] == "InternalServerError"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    with pytest.raises(ReadTimeoutError):
        ddb.query(TableName="fault-lock", KeyConditionExpression="pk = :p",
                  ExpressionAttributeValues={":p": {"S": "lease"}})  # fmt: skip
    ddb.update_item(**update)  # each rule hit once: the table answers again
    assert ddb.get_item(TableName="fault-lock", Key=key)["Item"]["v"] == {"N": "1"}
    assert _lab(served, "aws-fault", "all", "--clear").stdout.strip() == "cleared 0 fault rule(s)"


def test_sigterm_stops_cleanly_and_withdraws_the_runtime_record(served: Served) -> None:
    served.proc.send_signal(signal.SIGTERM)
    assert served.proc.wait(timeout=30) == 0
    assert served.lines.get(timeout=10) == "vpnwatch lab: stopped"
    assert list(served.runtime_dir.glob("world-*.json")) == []
    assert served.config.exists()  # asked for with --write-config, so it stays
    assert served.proc.stderr is not None
    errors = served.proc.stderr.read()
    assert "Traceback" not in errors
    after = _lab(served, "state", "--json")
    assert after.returncode == 1
    assert "no running lab world" in after.stderr
