"""An active/standby pair as real processes on one emulated world (issue 11): at most one
leads, the standby takes over a dead or frozen leader and finishes its heal, a stale leader
is fenced, a store outage stops all acting, operator requests are carried out once.

Each test runs two `vpnwatch run` processes against a LabWorld with the DynamoDB lock
table, a 3 s lease and real clocks; the leader is read from /metrics, the shared state and
the audit trail from the table, the truth from the world.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.ha.pair import HOSTS, LEASE, Pair, wait_for
from tests.scenarios.harness import UNREACHABLE_REPLACE, running_instances

pytestmark = pytest.mark.e2e

ROUTER = "spoke1-r1"
# Heals run with the lab's AWS timeouts (0.6 s reads, retried), which need a longer lease.
HEAL_LEASE = 5.0


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Callable[..., Pair]]:
    made: list[Pair] = []

    def make(**options: Any) -> Pair:
        p = Pair(tmp_path / f"p{len(made)}", **options)
        made.append(p)
        p.start(routers_ready=options.get("ssh", True))
        return p

    try:
        yield make
    finally:
        for p in made:
            p.stop()


def other_than(host: str) -> str:
    return next(h for h in HOSTS if h != host)


def test_two_daemons_on_one_world_exactly_one_leads_for_100_cycles(pair) -> None:  # type: ignore[no-untyped-def]
    p = pair(interval=0.5, ssh=False)
    leader = p.wait_leader()
    standby = other_than(leader)
    samples = 0
    start = {h: len(p.reasons(h)) for h in HOSTS}
    while min(len(p.reasons(h)) - start[h] for h in HOSTS) < 100:
        leaders = p.leaders()
        assert leaders == [leader], f"leaders {leaders} after {samples} samples"
        samples += 1
        assert p.alive(leader) and p.alive(standby)
        time.sleep(0.1)
    assert samples >= 100
    # No handover happened: one takeover, fence 1, and the standby said who leads.
    assert p.metrics(leader)["vpnwatch_lease_transitions_total"] == 1
    assert p.metrics(standby)["vpnwatch_lease_transitions_total"] == 0
    assert p.metrics(standby)["vpnwatch_lease_fence"] == 1 == p.lease()["fence"]
    assert (
        p.reasons(standby)[-1]
        == f"no action: 6/6 routers healthy; standby: leader is {leader}, fence 1"
    )
    assert p.reasons(leader)[-1] == "no action: 6/6 routers healthy"
    assert [e["result"] for e in p.audit()] == ["leading with fence 1"]
    assert p.ready(leader) == 200 and p.ready(standby) == 200  # the standby serves /readyz


def test_sigkill_the_leader_and_the_standby_leads(pair) -> None:  # type: ignore[no-untyped-def]
    p = pair(interval=0.5, ssh=False)
    leader = p.wait_leader()
    standby = other_than(leader)
    p.metrics(standby)
    time.sleep(2)
    killed = time.monotonic()
    p.kill(leader)
    wait_for(
        "the standby to lead",
        lambda: p.metrics(standby).get("vpnwatch_leader") == 1,
        timeout=10 * LEASE,
    )
    failover = time.monotonic() - killed
    print(
        f"\nfailover after SIGKILL: {failover:.2f} s (lease {LEASE:g} s, goal <= {2 * LEASE:g} s)"
    )
    assert p.lease()["holder"] == standby and p.lease()["fence"] == 2
    audit = p.audit()
    assert audit[-1]["result"] == f"leading with fence 2 (after {leader}, fence 1)"
    # The killed host comes back as the standby.
    p.start_daemon(leader)
    wait_for(
        "the restarted host to stand by",
        lambda: any("standby: leader is " + standby in r for r in p.reasons(leader)),
    )
    assert p.leaders() == [standby]


def wait_backups(p: Pair) -> None:
    def all_backed_up() -> bool:
        root = p.world.state_dir / "shared-backups"
        return root.exists() and len([d for d in root.iterdir() if any(d.glob("*.boot"))]) == 6

    wait_for("a backup of every router", all_backed_up, timeout=90)


def slow_mutations(p: Pair) -> None:
    """Mutating calls take a little while, so the test sees each step land. (Not
    TerminateInstances: a terminate retried after a read timeout while the first is still
    being served fails in moto with InvalidNetworkInterfaceID.NotFound; EC2's is idempotent.)"""
    for action in ("CreateTags", "RunInstances", "ModifyInstanceAttribute", "AssociateAddress"):
        p.world.aws.add_fault(action, delay=0.2, count=-1)


def assert_replaced(p: Pair, old: str) -> dict[str, Any]:
    topo = p.world.topology.router(ROUTER)
    state = p.world.state()
    mine = running_instances(state, ROUTER)
    assert len(mine) == 1, mine
    new = mine[0]
    assert new["instance_id"] != old and new["private_ip"] == topo.private_ip
    assert p.world.aws.eip_holder(topo.public_ip) == new["instance_id"]
    assert p.world.wait_router(ROUTER, 30, established=True)  # config restored: BGP is up
    launched = [i for i in state["instances"] if i.get("router") == ROUTER]
    assert len(launched) == 2, launched  # the old one (terminated) and exactly one new one
    return dict(new)


def test_sigkill_the_leader_mid_replacement_and_the_new_leader_finishes_it(pair) -> None:  # type: ignore[no-untyped-def]
    p = pair(lease=HEAL_LEASE, env={"VPNWATCH_HEAL__LADDER": UNREACHABLE_REPLACE})
    leader = p.wait_leader()
    wait_backups(p)
    old = p.world.router_instance(ROUTER)
    slow_mutations(p)
    p.world.fault(ROUTER, "crash")
    killed_after: list[tuple[str, str]] = []
    for step in ("terminate", "launch", "associate-eip"):

        def reached(step: str = step) -> bool:
            record = p.heal_record(ROUTER)
            return record is not None and step in record["steps_done"]

        wait_for(f"{step} done", reached, timeout=120)
        p.kill(leader)  # the standby takes over and resumes from the shared record
        killed_after.append((leader, step))
        killed, leader = leader, p.wait_leader(timeout=60, other_than=leader)
        # The killed host returns, as the next standby (only now: a restarted process that
        # saw the dead leader's record for a whole lease may fairly win the takeover too).
        p.start_daemon(killed)
    wait_for(
        "the heal to finish",
        lambda: (p.heal_record(ROUTER) or {}).get("status") == "done",
        timeout=180,
    )
    assert_replaced(p, old)
    audit = p.audit()
    fences = [e["fence"] for e in audit if e.get("event") == "lease"]
    assert fences == [1, 2, 3, 4], audit  # each takeover a new fence
    done = [e for e in audit if str(e.get("result", "")).startswith("done:")]
    steps = [e["step"] for e in done]
    assert steps.count("launch") == 1 and steps.count("associate-eip") == 1, done
    assert len({e["fence"] for e in done}) >= 2, done  # more than one leader acted
    # Each new leader resumed the heal from the shared record, past where its
    # predecessor was killed.
    resumed = sorted(
        (e for h in HOSTS for e in p.lines(h) if e.get("event") == "resuming heal"),
        key=lambda e: str(e["timestamp"]),
    )
    assert len(resumed) == 3, resumed
    for (_, step), event in zip(killed_after, resumed, strict=True):
        assert step in event["steps_done"], (step, event)


def test_a_frozen_leader_that_wakes_up_is_fenced_and_demotes(pair) -> None:  # type: ignore[no-untyped-def]
    # The terminated instance's private IP is released after 6 s: the leader is frozen
    # while its heal keeps trying to launch the twin on it.
    p = pair(
        lease=HEAL_LEASE, release_delay=6.0, env={"VPNWATCH_HEAL__LADDER": UNREACHABLE_REPLACE}
    )
    leader = p.wait_leader()
    standby = other_than(leader)
    wait_backups(p)
    old = p.world.router_instance(ROUTER)
    p.world.fault(ROUTER, "crash")
    wait_for(
        "the heal to wait for the private IP",
        lambda: (p.heal_record(ROUTER) or {}).get("steps_done", [])[-1:] == ["wait-terminated"],
        timeout=120,
    )
    os.kill(p.daemons[leader].proc.pid, signal.SIGSTOP)
    frozen = time.time()
    wait_for("the standby to take over", lambda: p.lease()["holder"] == standby, timeout=30)
    taken = time.time()
    wait_for(
        "the new leader to finish the heal",
        lambda: (p.heal_record(ROUTER) or {}).get("status") == "done",
        timeout=180,
    )
    os.kill(p.daemons[leader].proc.pid, signal.SIGCONT)
    woke = time.time()
    wait_for(
        "the old leader to stand down",
        lambda: any(e.get("event") == "lease lost: standing by" for e in p.lines(leader)),
    )
    wait_for(
        "the old leader to stand by",
        lambda: any(f"standby: leader is {standby}, fence 2" in r for r in p.reasons(leader)),
    )
    assert p.leaders() == [standby]
    assert_replaced(p, old)
    # The audit trail: fence 1 wrote nothing after the takeover, fence 2 did the rest.
    audit = p.audit()
    assert all(e["time"] < taken for e in audit if e["fence"] == 1), audit
    takeover = next(e for e in audit if e.get("event") == "lease" and e["fence"] == 2)
    assert takeover["result"] == f"leading with fence 2 (after {leader}, fence 1)"
    done = [e for e in audit if str(e.get("result", "")).startswith("done:")]
    assert {e["step"] for e in done if e["fence"] == 2} >= {"launch", "associate-eip", "restore"}
    # The old leader's heal woke up wanting to launch, and was refused.
    after = [e for e in p.lines(leader) if str(e.get("timestamp", "")) >= _iso(woke)]
    events = {str(e.get("event")) for e in after}
    assert "heal stopped: not the leader" in events, events
    assert not any(str(e.get("event", "")).startswith(("launch", "associate")) for e in after)
    assert frozen < taken < woke


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch))


def test_a_store_outage_demotes_the_leader_nobody_acts_and_leadership_returns(pair) -> None:  # type: ignore[no-untyped-def]
    p = pair()
    leader = p.wait_leader()
    p.metrics(other_than(leader))
    # The store goes out the way DynamoDB does, set through `vpnwatch lab aws-fault`:
    # throttled writes, 5xx reads, and queries slower than the client waits.
    faults = [
        *[(a, "--code", "ProvisionedThroughputExceededException")
          for a in ("UpdateItem", "PutItem", "DeleteItem")],
        ("TransactWriteItems", "--code", "ThrottlingException"),
        ("GetItem", "--code", "InternalServerError"),
        ("Query", "--delay", "2"),
    ]  # fmt: skip
    for action, *how in faults:
        done = lab(p, "aws-fault", action, *how, "--count", "-1")
        assert done.returncode == 0, done.stderr
    assert len(p.world.aws.faults()) == len(faults)
    wait_for("the leader to demote", lambda: p.leaders() == [], timeout=10 * LEASE)
    demoted = next(e for e in p.lines(leader) if e.get("event") == "lease lost: standing by")
    assert demoted["why"] == "lease expired before a renewal succeeded"
    p.world.fault(ROUTER, "bgp-stuck")  # a failure nobody may heal while the store is out
    before = {h: len(p.reasons(h)) for h in HOSTS}
    wait_for(
        "cycles going on",
        lambda: all(len(p.reasons(h)) >= before[h] + 6 for h in HOSTS),
        timeout=60,
    )
    for host in HOSTS:
        assert p.metrics(host)["vpnwatch_leader"] == 0
        recent = p.reasons(host)[before[host] :]
        assert all("observe only: dynamodb:vpnwatch-lock: unreachable" in r for r in recent), recent
        assert any(f"{ROUTER} degraded" in r or f"{ROUTER} bgp-ipsec-down" in r for r in recent)
    assert p.metrics(leader)["vpnwatch_lease_renew_failures_total"] >= 1
    cleared_rules = lab(p, "aws-fault", "all", "--clear")
    assert cleared_rules.stdout.strip() == f"cleared {len(faults)} fault rule(s)"
    cleared = time.time()
    back = p.wait_leader(timeout=10 * LEASE)
    wait_for(
        "the new leader to heal",
        lambda: any(
            e.get("action") == "reset-bgp" and str(e.get("result", "")).startswith("done:")
            for e in p.audit()
        ),
        timeout=60,
    )
    assert p.lease()["fence"] == 2 and p.lease()["holder"] == back
    resets = [e for e in p.audit() if e.get("action") == "reset-bgp"]
    assert resets and all(e["time"] >= cleared and e["fence"] == 2 for e in resets), resets


def lab(p: Pair, *args: str) -> subprocess.CompletedProcess[str]:
    """`vpnwatch lab ...` against the pair's world, found through a daemon's config."""
    config = str(next(iter(p.daemons.values())).log_path.parent / "vpnwatch.yaml")
    return subprocess.run(
        [sys.executable, "-m", "vpnwatch", "lab", *args, "--config", config],
        capture_output=True, text=True, env=p.base_env, timeout=120,
    )  # fmt: skip


def vpnwatch(p: Pair, host: str, *args: str) -> subprocess.CompletedProcess[str]:
    daemon = p.daemons[host]
    config = str(daemon.log_path.parent / "vpnwatch.yaml")
    env = dict(p.base_env, VPNWATCH_STATE_DIR=str(p.workdir / "cli-state"))
    return subprocess.run(
        [sys.executable, "-m", "vpnwatch", *args, "--config", config],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_operator_requests_against_a_running_pair_are_carried_out_once_by_the_leader(pair) -> None:  # type: ignore[no-untyped-def]
    p = pair()
    leader = p.wait_leader()
    standby = other_than(leader)
    reset = vpnwatch(p, standby, "heal", "--reset-breaker")
    assert reset.returncode == 0, reset.stdout + reset.stderr
    assert f"a running vpnwatch ({leader}, fence 1) leads: asking it" in reset.stdout
    assert "reset-breaker: done: live circuit breaker closed" in reset.stdout
    heal = vpnwatch(p, standby, "heal", "--router", ROUTER, "--action", "reset-bgp", "--yes")
    assert heal.returncode == 0, heal.stdout + heal.stderr
    assert f"a running vpnwatch ({leader}, fence 1) leads: it will carry this out" in heal.stdout
    listed = vpnwatch(p, standby, "requests")
    assert listed.returncode == 0 and listed.stdout.count(" done ") == 2, listed.stdout
    audit = p.audit()
    requests = [e for e in audit if "request" in e]
    assert [e["kind"] for e in requests] == ["reset-breaker", "heal"], audit
    assert {e["fence"] for e in requests} == {1}
    resets = [e for e in audit if e.get("action") == "reset-bgp" and e.get("router") == ROUTER]
    assert resets and {e["fence"] for e in resets} == {1}
    assert len({e["heal_id"] for e in resets}) == 1  # one heal, carried out once
    for host in HOSTS:  # only the leader said it took them
        took = [e for e in p.lines(host) if e.get("event") == "operator request"]
        assert len(took) == (2 if host == leader else 0), took
