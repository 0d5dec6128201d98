"""The eleven fault scenarios, end to end: daemon process ↔ emulated AWS ↔ simulated routers.

Each test builds a fresh world (moto over HTTP + six simulated VyOS routers on loopback),
runs `vpnwatch run` as a real process against it, injects a fault and watches the daemon's
one-line reasons, its audit trail and the world's truth.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Callable

import pytest

from tests.scenarios.harness import (
    UNREACHABLE_REPLACE,
    Scenario,
    assert_replaced,
    audit_entries,
    wait_for,
)

pytestmark = pytest.mark.e2e

ROUTER = "spoke1-r1"


def test_1_crashed_router_is_replaced_with_same_ip_eip_and_bgp(
    scenario: Callable[..., Scenario],
) -> None:
    s = scenario(ladder=UNREACHABLE_REPLACE)
    old, ip = s.crash_after_backups(ROUTER)
    s.wait_reason(lambda r: r.startswith(f"replacing {ROUTER}: {ROUTER} unreachable for"))
    s.wait_heal_done(ROUTER)
    s.wait_reason(lambda r: r == "no action: 6/6 routers healthy")
    assert_replaced(s.world, ROUTER, old, ip)
    steps = [e["step"] for e in audit_entries(s) if e.get("result", "").startswith("done:")]
    assert {"terminate", "launch", "associate-eip", "restore"} <= set(steps)


def test_1b_crashed_router_is_replaced_on_its_kept_network_interface(
    scenario: Callable[..., Scenario],
) -> None:
    s = scenario(ladder=UNREACHABLE_REPLACE, env={"VPNWATCH_HEAL__STRATEGY": "eni"})
    s.wait_backups()
    old, ip = s.world.router_instance(ROUTER), s.world.topology.router(ROUTER).private_ip
    eni = s.world.topology.router(ROUTER).eni_id
    s.world.fault(ROUTER, "crash")
    record = s.wait_heal_done(ROUTER)
    assert record["strategy"] == "eni" and "keep-eni" in record["steps_done"]
    s.wait_reason(lambda r: r == "no action: 6/6 routers healthy", after=True)
    new = assert_replaced(s.world, ROUTER, old, ip)
    launch = next(e for e in audit_entries(s) if e["step"] == "launch")
    assert launch["result"].startswith("done:")
    assert record["launch_spec"]["eni_id"] == eni
    import boto3

    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=s.world.endpoint_url)
    (instance,) = ec2.describe_instances(InstanceIds=[new])["Reservations"][0]["Instances"]
    primary = next(n for n in instance["NetworkInterfaces"] if n["Attachment"]["DeviceIndex"] == 0)
    assert primary["NetworkInterfaceId"] == eni  # the new instance sits on the kept interface


def test_2_bgp_down_with_ssh_fine_is_fixed_by_reset_bgp(scenario: Callable[..., Scenario]) -> None:
    s = scenario()
    old = s.world.router_instance(ROUTER)
    s.world.fault(ROUTER, "bgp-stuck")
    s.wait_reason(lambda r: r.startswith(f"resetting BGP on {ROUTER}"))
    s.wait_reason(lambda r: r == "no action: 6/6 routers healthy", after=True)
    actions = {e["action"] for e in audit_entries(s)}
    assert actions == {"reset-bgp"}
    assert s.world.router_instance(ROUTER) == old


def test_3_one_aws_tunnel_down_is_alert_only(scenario: Callable[..., Scenario]) -> None:
    s = scenario()
    conn = s.world.topology.connections_of("hub-r1")[0]
    s.world.aws.set_tunnel(conn.id, conn.tunnels[0].outside_ip, "DOWN")
    s.wait_reason(lambda r: "hub-r1 degraded" in r)
    s.wait_cycles(6)
    assert all("hub-r1 degraded" in r or "healthy" in r for r in s.reasons()[-4:])
    assert audit_entries(s) == []


def test_4_both_routers_of_a_site_dead_are_healed_one_after_the_other(
    scenario: Callable[..., Scenario],
) -> None:
    s = scenario(ladder=UNREACHABLE_REPLACE)
    s.wait_backups()
    olds = {r: s.world.router_instance(r) for r in ("spoke1-r1", "spoke1-r2")}
    s.world.fault("spoke1-r1", "crash")
    s.world.fault("spoke1-r2", "crash")
    s.wait_heal_done("spoke1-r1", timeout=180)
    s.wait_heal_done("spoke1-r2", timeout=180)
    s.wait_reason(lambda r: r == "no action: 6/6 routers healthy", timeout=120)
    spans = {}
    for router in olds:
        times = [e["time"] for e in audit_entries(s) if e["router"] == router]
        spans[router] = (min(times), max(times))
    first, second = sorted(spans.values())
    assert first[1] < second[0], f"heals overlapped: {spans}"
    for router, old in olds.items():
        assert_replaced(s.world, router, old, s.world.topology.router(router).private_ip)


def test_5_throttling_and_5xx_during_a_heal_are_retried(scenario: Callable[..., Scenario]) -> None:
    s = scenario(ladder=UNREACHABLE_REPLACE)
    s.wait_backups()
    old, ip = s.world.router_instance(ROUTER), s.world.topology.router(ROUTER).private_ip
    s.world.aws.add_fault("RunInstances", code="RequestLimitExceeded", count=3)
    s.world.aws.add_fault("AssociateAddress", code="ServiceUnavailable", status=503, count=1)
    s.world.aws.add_fault("TerminateInstances", code="InternalError", status=500, count=1)
    s.world.fault(ROUTER, "crash")
    s.wait_heal_done(ROUTER)
    assert all(f.count == 0 for f in s.world.aws.faults())
    assert_replaced(s.world, ROUTER, old, ip)


def test_6_daemon_killed_after_each_step_finishes_the_heal(
    scenario: Callable[..., Scenario],
) -> None:
    s = scenario(ladder=UNREACHABLE_REPLACE)
    s.wait_backups()
    old, ip = s.world.router_instance(ROUTER), s.world.topology.router(ROUTER).private_ip
    # Every mutating call takes a little while, so the test sees each step land (and
    # sometimes kills the daemon in the middle of a call).
    for action in (
        "CreateTags",
        "TerminateInstances",
        "RunInstances",
        "ModifyInstanceAttribute",
        "AssociateAddress",
    ):
        s.world.aws.add_fault(action, delay=0.4, count=-1)
    s.world.fault(ROUTER, "crash")
    killed_after: list[str] = []
    while True:
        record = s.heal_record(ROUTER)
        # an unfinished heal that had not terminated anything yet is abandoned on restart
        # and the policy starts a new one: wait for the one that finishes
        if record is not None and record["status"] not in ("running", "abandoned"):
            break
        steps = record["steps_done"] if record else []
        # Each step once, in turn, from the point of no return on (a heal killed before it
        # terminated anything is abandoned and decided afresh: tests/heal covers that).
        if steps and "terminate" in steps and steps[-1] not in killed_after:
            s.daemon.proc.send_signal(signal.SIGKILL)  # no chance to clean up
            s.daemon.proc.wait(timeout=10)
            killed_after.append(steps[-1])
            s.restart_daemon()
        s.pause(0.05)
        assert s.elapsed() < 400, f"heal did not finish; killed after {killed_after}"
    assert s.heal_record(ROUTER)["status"] == "done", s.heal_record(ROUTER)
    assert len(killed_after) >= 5, killed_after
    assert_replaced(s.world, ROUTER, old, ip)
    launched = [i for i in s.world.state()["instances"] if i.get("router") == ROUTER]
    assert len(launched) == 2, launched  # the old one (terminated) and exactly one new one


def test_7_a_flapping_router_opens_the_circuit_breaker(scenario: Callable[..., Scenario]) -> None:
    s = scenario(env={"VPNWATCH_HEAL__BREAKER__MAX_FLAPS": "2", "VPNWATCH_HEAL__PAUSED": "false"})
    for _ in range(2):
        s.world.fault(ROUTER, "ipsec-down")
        s.wait_raw_failed(ROUTER)
        s.world.fault(ROUTER, "all", clear=True)
        s.wait_reason(lambda r: r.startswith("no action: 6/6 routers healthy"), after=True)
    s.wait_reason(lambda r: "circuit breaker" in r)
    assert s.metric("vpnwatch_circuit_breaker_open") == 1.0
    before = len(audit_entries(s))
    s.world.fault(ROUTER, "crash")
    s.wait_cycles(8)
    assert len(audit_entries(s)) == before
    assert "circuit breaker open" in s.reasons()[-1]


def test_8_garbage_router_output_causes_no_action(scenario: Callable[..., Scenario]) -> None:
    s = scenario()
    s.world.fault(ROUTER, "garbage")
    s.wait_reason(lambda r: f"{ROUTER} unknown" in r)
    s.wait_cycles(6)
    assert audit_entries(s) == []
    assert s.metric('vpnwatch_poll_errors_total{source="parse"}') >= 1
    assert (
        s.metric(f'vpnwatch_router_health{{router="{ROUTER}",site="spoke1",state="unknown"}}') == 1
    )


def test_9_no_valid_backup_means_no_replacement_and_an_alert(
    scenario: Callable[..., Scenario],
) -> None:
    s = scenario(ladder=UNREACHABLE_REPLACE, env={"VPNWATCH_BACKUP__ENABLED": "false"})
    old = s.world.router_instance(ROUTER)
    s.world.fault(ROUTER, "crash")
    s.wait_reason(lambda r: f"refusing to replace {ROUTER}: no valid config backup" in r)
    s.wait_cycles(3)
    assert audit_entries(s) == []
    assert s.world.router_instance(ROUTER) == old
    assert [i["state"] for i in s.world.state()["instances"] if i["instance_id"] == old] == [
        "running"
    ]


def test_10_dry_run_changes_nothing_and_says_would_have(scenario: Callable[..., Scenario]) -> None:
    s = scenario(ladder=UNREACHABLE_REPLACE, dry_run=True)
    s.wait_backups()
    before = json.dumps(s.world.state()["instances"], sort_keys=True)
    s.world.fault(ROUTER, "crash")
    s.wait_heal_done(ROUTER)
    entries = audit_entries(s)
    assert entries and all(e["dry_run"] is True for e in entries)
    assert all(e["result"].startswith("would have ") for e in entries)
    assert {e["step"] for e in entries} >= {"terminate", "launch", "associate-eip", "restore"}
    assert json.dumps(s.world.state()["instances"], sort_keys=True) == before
    assert (
        s.metric('vpnwatch_actions_total{action="replace",result="dry_run",router="spoke1-r1"}')
        >= 1
    )


def test_11_host_key_not_matching_console_output_refuses_the_restore(
    scenario: Callable[..., Scenario],
) -> None:
    s = scenario(ladder=UNREACHABLE_REPLACE)
    s.wait_backups()
    s.world.tamper_next_console(ROUTER)
    s.world.fault(ROUTER, "crash")
    record = s.wait_heal_finished(ROUTER)
    assert record["status"] == "failed"
    assert "does not match the fingerprints its boot script printed" in record["error"]
    assert "restore" not in record["steps_done"]
    assert "wait-ssh" in record["steps_done"]  # the failed record keeps the steps it did
    assert not any(e["step"] == "restore" for e in audit_entries(s))
    wait_for(
        "heal failure metric",
        lambda: s.metric(f'vpnwatch_heal_failures_total{{router="{ROUTER}"}}') == 1,
    )
