"""Replacement in a world that behaves like real EC2 and a stock VyOS AMI (issue 10): pending
instances, no host keys on the console, a deregistered AMI, capacity errors after the point
of no return, an Elastic IP moved by hand, an IAM-limited daemon, what same-ip cannot carry,
and stop-start for a failed host. Each a `vpnwatch run` process against the emulated world.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.scenarios.harness import (
    UNREACHABLE_REPLACE,
    Scenario,
    assert_replaced,
    audit_entries,
    running_instances,
    wait_for,
)
from vpnwatch.lab.clients import lab_client

pytestmark = pytest.mark.e2e

ROUTER, PARTNER = "spoke1-r1", "spoke1-r2"
POLICY = Path(__file__).resolve().parents[2] / "deploy" / "iam" / "policy.json"


def done_steps(s: Scenario) -> set[str]:
    return {e["step"] for e in audit_entries(s) if str(e.get("result", "")).startswith("done:")}


def wait_step(s: Scenario, step: str) -> None:
    def reached() -> bool:
        record = s.heal_record(ROUTER)
        return record is not None and step in record["steps_done"]

    wait_for(f"the heal to pass {step}", reached, timeout=120)


def rehearse(s: Scenario) -> tuple[int, dict[str, Any]]:
    result = subprocess.run(
        [sys.executable, "-m", "vpnwatch", "heal", "--config", str(s.config), "--router",
         ROUTER, "--rehearse", "--json"],
        capture_output=True, text=True, env=s.env, timeout=120,
    )  # fmt: skip
    return result.returncode, json.loads(result.stdout)


def test_crash_replaced_through_the_pending_window_without_host_keys_on_the_console(
    scenario: Callable[..., Scenario],
) -> None:
    s = scenario(ladder=UNREACHABLE_REPLACE)
    old, ip = s.crash_after_backups(ROUTER)
    record = s.wait_heal_done(ROUTER)
    new = assert_replaced(s.world, ROUTER, old, ip)
    assert record["steps_done"].index("wait-running") < record["steps_done"].index("configure")
    ec2 = lab_client("ec2", s.world.endpoint_url)
    console = ec2.get_console_output(InstanceId=new, Latest=True)["Output"]
    assert "BEGIN SSH HOST KEY" not in console  # a stock VyOS AMI prints none
    assert "BEGIN VPNWATCH SSH HOST KEY FINGERPRINTS" in console  # vpnwatch's boot script did
    assert record["host_key"] == s.world.routers.view(ROUTER)["host_key"]
    # the daemon's key came with the user data; the restore file with the PSKs is gone
    router = s.world.simulated_router(ROUTER)
    assert router is not None and "/home/vyos/vpnwatch-restore.boot" not in router.files
    assert any("vpn ipsec" in c for c in router.saved_config_commands())


def test_a_deregistered_ami_fails_the_rehearsal_and_a_crash_terminates_nothing(
    scenario: Callable[..., Scenario],
) -> None:
    # the daemon rehearses every 3 s here (default: hourly)
    s = scenario(ladder=UNREACHABLE_REPLACE, env={"VPNWATCH_HEAL__REHEARSAL_INTERVAL": "3"})
    s.wait_backups()
    code, report = rehearse(s)
    assert (code, report["ok"]) == (0, True), report
    assert {c["name"] for c in report["checks"]} >= {
        "ami", "key-pair", "instance-profile", "dry-run RunInstances", "dry-run TerminateInstances",
    }  # fmt: skip
    ok = f'vpnwatch_rehearsal_ok{{router="{ROUTER}"}}'
    wait_for("the daemon's rehearsal to pass", lambda: s.metric(ok) == 1.0, timeout=60)
    ec2 = lab_client("ec2", s.world.endpoint_url)
    ec2.deregister_image(ImageId=s.world.topology.router(ROUTER).image_id)
    code, report = rehearse(s)
    assert (code, report["ok"]) == (1, False)
    ami = next(c for c in report["checks"] if c["name"] == "ami")
    assert not ami["ok"] and "does not exist" in ami["detail"]
    # the daemon finds it on its own (the lab's six routers share the AMI): the reason line
    # and the metric say so, nothing is held
    s.wait_reason(
        lambda r: r.startswith("no action: 6/6 routers healthy; replacement rehearsal failed "
                               "for hub-r1 (ami: ami-") and r.endswith("+5 more"), after=True,
    )  # fmt: skip
    assert s.metric(ok) == 0.0 and s.metric(f'vpnwatch_rehearsal_ok{{router="{PARTNER}"}}') == 0.0
    old = s.world.router_instance(ROUTER)
    s.world.fault(ROUTER, "crash")
    record = s.wait_heal_finished(ROUTER)
    assert record["status"] == "failed" and "preflight failed, nothing done" in record["error"]
    assert "ami:" in record["error"]
    assert record["steps_done"] == ["capture"] and done_steps(s) == set()
    states = [i["state"] for i in s.world.state()["instances"] if i["instance_id"] == old]
    assert states == ["running"]


def test_no_capacity_after_terminate_is_retried_within_the_deadline_one_instance_only(
    scenario: Callable[..., Scenario],
) -> None:
    s = scenario(ladder=UNREACHABLE_REPLACE)
    old, ip = s.crash_after_backups(ROUTER)
    wait_step(s, "terminate")  # past the point of no return: now EC2 has no capacity
    s.world.aws.add_fault("RunInstances", code="InsufficientInstanceCapacity", count=6)
    s.wait_heal_done(ROUTER, timeout=180)
    assert all(f.count == 0 for f in s.world.aws.faults() if f.action == "RunInstances")
    assert_replaced(s.world, ROUTER, old, ip)
    launched = [i for i in s.world.state()["instances"] if i.get("router") == ROUTER]
    assert len(launched) == 2, launched  # the old one and exactly one twin
    retries = [e for e in s.logs() if e.get("event") == "heal step retrying"]
    assert any("InsufficientInstanceCapacity" in str(e.get("error")) for e in retries)


def test_no_capacity_past_the_launch_deadline_fails_the_heal_with_an_alert_and_no_twin(
    scenario: Callable[..., Scenario],
) -> None:
    s = scenario(ladder=UNREACHABLE_REPLACE, env={"VPNWATCH_HEAL__TIMEOUTS__LAUNCH": "10"})
    s.wait_backups()
    old, router = s.world.router_instance(ROUTER), s.world.topology.router(ROUTER)
    s.world.fault(ROUTER, "crash")
    wait_step(s, "terminate")
    s.world.aws.add_fault("RunInstances", code="InsufficientInstanceCapacity", count=1000)
    record = s.wait_heal_finished(ROUTER, timeout=180)
    assert record["status"] == "failed", record
    assert "still failing after 10 s" in record["error"]
    assert "InsufficientInstanceCapacity" in record["error"]
    assert "terminate" in record["steps_done"] and "launch" not in record["steps_done"]
    wait_for(
        "the heal failure alert",
        lambda: s.metric(f'vpnwatch_heal_failures_total{{router="{ROUTER}"}}') >= 1,
    )
    mine = [i for i in s.world.state()["instances"] if i.get("router") == ROUTER]
    assert [(i["instance_id"], i["state"]) for i in mine] == [(old, "terminated")]
    ec2 = lab_client("ec2", s.world.endpoint_url)  # nothing lost: the EIP is still allocated
    (address,) = ec2.describe_addresses(AllocationIds=[router.allocation_id])["Addresses"]
    assert address["PublicIp"] == router.public_ip


def test_an_eip_moved_by_hand_to_the_partner_is_not_taken_back(
    scenario: Callable[..., Scenario],
) -> None:
    s = scenario(ladder=UNREACHABLE_REPLACE)
    s.wait_backups()
    router = s.world.topology.router(ROUTER)
    partner = s.world.router_instance(PARTNER)
    s.world.fault(ROUTER, "crash")
    wait_step(s, "terminate")
    ec2 = lab_client("ec2", s.world.endpoint_url)  # an operator fails the EIP over by hand
    ec2.associate_address(
        AllocationId=router.allocation_id, InstanceId=partner, AllowReassociation=True
    )
    record = s.wait_heal_finished(ROUTER)
    assert record["status"] == "failed" and "not moving it" in record["error"]
    assert "associate-eip" not in done_steps(s)
    assert s.world.aws.eip_holder(router.public_ip) == partner
    wait_for(
        "the heal failure alert",
        lambda: s.metric(f'vpnwatch_heal_failures_total{{router="{ROUTER}"}}') == 1,
    )


def test_the_whole_replacement_works_with_the_deploy_iam_policy(
    scenario: Callable[..., Scenario],
) -> None:
    s = scenario(ladder=UNREACHABLE_REPLACE, world_options={"iam_policy": POLICY})
    assert s.world.iam is not None and s.env["AWS_ACCESS_KEY_ID"] == "AKIAVPNWATCHDAEMON01"
    old, ip = s.crash_after_backups(ROUTER)
    s.wait_heal_done(ROUTER, timeout=180)
    assert_replaced(s.world, ROUTER, old, ip)
    assert s.world.iam.refusals == []
    new = running_instances(s.world.state(), ROUTER)[0]["instance_id"]
    ec2 = lab_client("ec2", s.world.endpoint_url)
    volumes = ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [new]}])
    assert {"Key": "vpnwatch:managed", "Value": "true"} in volumes["Volumes"][0]["Tags"]


def test_same_ip_refuses_a_router_with_a_secondary_ip_before_acting(
    scenario: Callable[..., Scenario],
) -> None:
    s = scenario(ladder=UNREACHABLE_REPLACE)
    ec2 = lab_client("ec2", s.world.endpoint_url)
    ec2.assign_private_ip_addresses(
        NetworkInterfaceId=s.world.topology.router(ROUTER).eni_id, PrivateIpAddresses=["10.1.0.99"]
    )
    s.wait_backups()
    old = s.world.router_instance(ROUTER)
    s.world.fault(ROUTER, "crash")
    record = s.wait_heal_finished(ROUTER)
    assert record["status"] == "failed"
    assert "1 secondary private IP(s)" in record["error"] and "strategy eni" in record["error"]
    assert done_steps(s) == set()
    assert [i["state"] for i in s.world.state()["instances"] if i["instance_id"] == old] == [
        "running"
    ]


def test_stop_start_cures_a_router_whose_host_fails_its_status_checks(
    scenario: Callable[..., Scenario],
) -> None:
    ladder = '{"unreachable": ["stop-start"], "bgp-ipsec-down": ["reset-bgp"]}'
    s = scenario(ladder=ladder)
    instance = s.world.impair(ROUTER)
    s.wait_reason(lambda r: r.startswith(f"stopping and starting {ROUTER}"))
    s.wait_reason(lambda r: r == "no action: 6/6 routers healthy", timeout=120, after=True)
    assert s.world.router_instance(ROUTER) == instance  # the same instance, new hardware
    assert {e["action"] for e in audit_entries(s)} == {"stop-start"}
    assert {"stop", "start"} <= done_steps(s)
    router = s.world.topology.router(ROUTER)
    assert s.world.aws.eip_holder(router.public_ip) == instance


def test_a_twin_that_dies_in_pending_is_reported_and_relaunched_with_a_new_token(
    scenario: Callable[..., Scenario],
) -> None:
    s = scenario(ladder=UNREACHABLE_REPLACE)
    s.wait_backups()
    old, ip = s.world.router_instance(ROUTER), s.world.topology.router(ROUTER).private_ip
    s.world.doom_next_launch(ROUTER, "Server.InternalError", "Internal error on launch")
    s.world.fault(ROUTER, "crash")
    record = s.wait_heal_done(ROUTER, timeout=180)
    assert record["launch_attempt"] == 1
    (dead,) = record["extra"]["dead_twins"]
    assert "terminated: Server.InternalError" in dead
    new = assert_replaced(s.world, ROUTER, old, ip)
    mine = {i["instance_id"]: i["state"] for i in s.world.state()["instances"]
            if i.get("router") == ROUTER}  # fmt: skip
    assert sorted(mine.values()) == ["running", "terminated", "terminated"] and new in mine
    assert any(e.get("event") == "launched twin died" for e in s.logs())


def test_a_vpc_route_through_the_router_is_repointed_to_its_twin(
    scenario: Callable[..., Scenario],
) -> None:
    s = scenario(ladder=UNREACHABLE_REPLACE)
    router = s.world.topology.router(ROUTER)
    ec2 = lab_client("ec2", s.world.endpoint_url)
    table = ec2.describe_route_tables(
        Filters=[{"Name": "vpc-id", "Values": [s.world.topology.site("spoke1").vpc_id]}]
    )["RouteTables"][0]["RouteTableId"]
    ec2.create_route(
        RouteTableId=table, DestinationCidrBlock="192.168.50.0/24",
        NetworkInterfaceId=router.eni_id,
    )  # fmt: skip
    s.wait_backups()
    old = s.world.router_instance(ROUTER)
    s.world.fault(ROUTER, "crash")
    record = s.wait_heal_done(ROUTER)
    new = assert_replaced(s.world, ROUTER, old, router.private_ip)
    assert "repoint-routes" in done_steps(s)
    (spec_route,) = record["launch_spec"]["routes"]
    assert spec_route["destination"] == "192.168.50.0/24"
    item = ec2.describe_instances(InstanceIds=[new])["Reservations"][0]["Instances"][0]
    routes = ec2.describe_route_tables(RouteTableIds=[table])["RouteTables"][0]["Routes"]
    route = next(r for r in routes if r.get("DestinationCidrBlock") == "192.168.50.0/24")
    assert route["NetworkInterfaceId"] == item["NetworkInterfaces"][0]["NetworkInterfaceId"]
