"""`vpnwatch lab serve` with its simulated routers, driven by `vpnwatch lab fault|state`."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

import pytest
import yaml

from tests.lab.test_world_support import error_of
from vpnwatch.lab.clients import lab_client
from vpnwatch.lab.runtime import ControlClient
from vpnwatch.lab.safety import LabError

T = TypeVar("T")
READY = re.compile(
    r"^vpnwatch lab: ready endpoint=(http://127\.0\.0\.1:\d+) config=(\S+) "
    r"routers=6 vpn_connections=8 tunnels=16 simulated_routers=6$"
)


@dataclass
class Served:
    proc: subprocess.Popen[str]
    endpoint: str
    config: Path
    env: dict[str, str]


def _pump(stream: IO[str], lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line.rstrip("\n"))


def lab(served: Served, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vpnwatch", "lab", *args, "--config", str(served.config)],
        env=served.env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def state(served: Served) -> dict[str, Any]:
    done = lab(served, "state", "--json")
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def poll(what: str, probe: Callable[[], T | None], timeout: float = 20.0) -> T:
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out waiting for {what}")
        pause.wait(0.1)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    base = tmp_path_factory.mktemp("lab-routers")
    env = {**os.environ, "XDG_RUNTIME_DIR": str(base)}
    config = base / "vpnwatch.yaml"
    proc = subprocess.Popen(
        [sys.executable, "-m", "vpnwatch", "lab", "serve", "--write-config", str(config),
         "--state-dir", str(base / "state"), "--release-delay", "2", "--boot-delay", "0.1",
         "--console-delay", "0.1", "--detection-delay", "0.5"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True).start()
    try:
        first = lines.get(timeout=60)
        match = READY.match(first)
        assert match, f"not a ready line: {first!r}"
        yield Served(proc, match.group(1), config, env)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert proc.stderr is not None
        assert "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_state_lists_the_routers_where_the_config_points(served: Served) -> None:
    truth = state(served)
    config = yaml.safe_load(served.config.read_text())
    ports = {r["name"]: r["ssh_port"] for s in config["sites"] for r in s["routers"]}
    assert config["ssh"]["enabled"] is True
    routers = {r["name"]: r for r in truth["routers"]}
    assert sorted(routers) == sorted(ports)
    for name, router in routers.items():
        assert {"name", "instance_id", "ssh", "alive", "bgp", "ipsec"} <= set(router)
        assert router["ssh"] == f"127.0.0.1:{ports[name]}" and router["alive"] is True
        assert set(router["bgp"].values()) == {"Established"}
        assert set(router["ipsec"].values()) == {"up"}
    table = lab(served, "state")
    assert re.search(r"^ROUTER\s+INSTANCE\s+STATE\s+SSH", table.stdout, re.M)
    assert re.search(r"^spoke1-r1\s+i-[0-9a-f]+\s+running\s+127\.0\.0\.1:\d+", table.stdout, re.M)


def test_fault_command_sets_and_clears_router_faults(served: Served) -> None:
    control = ControlClient(served.endpoint)
    done = lab(served, "fault", "spoke1-r2", "bgp-down")
    assert done.returncode == 0, done.stderr
    view = json.loads(done.stdout)
    assert view["faults"] == ["bgp-down"] and "Established" not in view["bgp"].values()
    control.router_fault("spoke1-r2", "slow", delay=0.2)
    router = next(r for r in control.state()["routers"] if r["name"] == "spoke1-r2")
    assert router["faults"] == ["bgp-down", "slow"]
    cleared = lab(served, "fault", "spoke1-r2", "all", "--clear")
    assert json.loads(cleared.stdout)["faults"] == []
    refused = lab(served, "fault", "spoke1-r2", "crash", "--delay", "1")
    assert refused.returncode == 1 and "only applies to the slow fault" in refused.stderr
    with pytest.raises(LabError, match="no router named 'nowhere-r9'"):
        control.router_fault("nowhere-r9", "crash")


def test_the_hostile_answer_faults_are_lab_faults_too(served: Served) -> None:
    for kind in ("deep-config", "secret-output"):
        done = lab(served, "fault", "spoke1-r2", kind)
        assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["faults"] == ["deep-config", "secret-output"]
    cleared = lab(served, "fault", "spoke1-r2", "all", "--clear")
    assert json.loads(cleared.stdout)["faults"] == []


def test_state_shows_the_truth_after_a_replacement(served: Served) -> None:
    control = ControlClient(served.endpoint)

    def router() -> dict[str, Any]:
        return next(r for r in control.state()["routers"] if r["name"] == "spoke2-r1")

    before = router()
    ec2 = lab_client("ec2", served.endpoint, total_max_attempts=1)
    item = ec2.describe_instances(InstanceIds=[before["instance_id"]])["Reservations"][0]
    subnet, address = item["Instances"][0]["SubnetId"], item["Instances"][0]["PrivateIpAddress"]
    image = item["Instances"][0]["ImageId"]
    ec2.terminate_instances(InstanceIds=[before["instance_id"]])

    def launch() -> str:
        done = ec2.run_instances(
            ImageId=image, MinCount=1, MaxCount=1, SubnetId=subnet,
            PrivateIpAddress=address,
        )  # fmt: skip
        return str(done["Instances"][0]["InstanceId"])

    assert error_of(launch) == ("InvalidIPAddress.InUse", 400)
    gone = router()
    assert (gone["state"], gone["ssh"], gone["alive"]) == ("terminated", None, False)

    def launched() -> str | None:
        new, code = error_of_or_none(launch)
        assert code in (None, "InvalidIPAddress.InUse"), code
        return new

    new_id = poll("the private IP to be released", launched)

    def running() -> dict[str, Any] | None:
        found = router()
        return found if found["state"] == "running" and found["alive"] else None

    after = poll("the relaunched router", running)
    assert (after["instance_id"], after["ssh"]) == (new_id, before["ssh"])
    assert after["host_key"] != before["host_key"] and after["bgp"] == {}
    mine = [i for i in state(served)["instances"] if i["router"] == "spoke2-r1"]
    assert sorted((i["instance_id"], i["state"]) for i in mine) == sorted(
        [(before["instance_id"], "terminated"), (new_id, "running")]
    )


def error_of_or_none(call: Callable[[], str]) -> tuple[str | None, str | None]:
    """(the call's result, None) or (None, its AWS error code)."""
    try:
        return call(), None
    except Exception as exc:
        response = getattr(exc, "response", None)
        if response is None:
            raise
        return None, str(response["Error"]["Code"])
