"""The DynamoDB state store against the emulated table: what a leader writes reads back,
a stale leader writes nothing, requests are taken once, bad items are named and moved
aside, and an unreachable table leaves observe-only with the last state read."""

from __future__ import annotations

import json

import pytest

from tests.statestore.conftest import FakeMonotonic
from tests.statestore.test_dynamo_lease import LEASE, RENEW, pair
from vpnwatch.adapters.dynamodb import DynamoTable
from vpnwatch.core.memory import Episode, GuardMemory, Memory
from vpnwatch.core.records import HealRecord, OperatorRequest, RequestAnswer
from vpnwatch.lab.aws_world import EmulatedAws
from vpnwatch.statestore.api import Fence, FenceLost, Fleet
from vpnwatch.statestore.dynamo import DocumentTooLarge, DynamoStateStore
from vpnwatch.statestore.dynamo_lease import DynamoLease
from vpnwatch.vocabulary import Action, Mode, RequestKind, RequestStatus


def leading(
    table: DynamoTable, clock: FakeMonotonic
) -> tuple[DynamoStateStore, Fence, DynamoLease]:
    a, b = pair(table, clock)
    a.tick()
    fence = a.current()
    assert fence is not None
    return DynamoStateStore(table, a, mutation_budget=1.0), fence, b


def replace_record() -> HealRecord:
    return HealRecord("r1-replace-1000", "r1", Action.REPLACE, "same-ip", 1000.0, False, "i-1")


def test_what_the_leader_writes_reads_back(table: DynamoTable, clock: FakeMonotonic) -> None:
    store, fence, _ = leading(table, clock)
    guards = GuardMemory(
        breaker_open=True, breaker_reason="2 replacements", cooldown_until={"r1": 5.0},
        episodes={"r1": Episode(Action.REBOOT, 3.0, 1.0)},
    )  # fmt: skip
    store.save_memory(Mode.LIVE, Memory({}, guards, paused=True), fence=fence)
    store.save_heal(
        replace_record().done("capture", launch_spec={"image_id": "ami-1"}), fence=fence
    )
    store.record_instance("r1", "i-2", "ssh-ed25519 AAAA", fence=fence)
    store.record_instance("r2", "i-3", None, fence=fence)
    stored = store.read(Mode.LIVE)
    assert stored.problems == () and stored.memory.guards == guards and stored.memory.paused
    assert store.read(Mode.DRY_RUN).memory.guards == GuardMemory()  # guards per mode
    (heal,) = stored.unfinished
    assert heal.steps_done == ("capture",) and heal.launch_spec == {"image_id": "ami-1"}
    assert stored.fleet == Fleet({"r1": "i-2", "r2": "i-3"}, {"r1": "ssh-ed25519 AAAA"})
    store.audit({"time": 1.5, "step": "launch", "result": "done"}, fence=fence)
    store.audit({"time": 2.5, "step": "associate-eip", "result": "done"}, fence=fence)
    assert [e["step"] for e in store.audit_trail()] == ["launch", "associate-eip"]
    assert {i["sk"] for i in table.query("state")} == {
        "doc#guards.live.json", "doc#hysteresis.json", "doc#control.json", "doc#fleet.json",
        "heal#r1-replace-1000",
    }  # fmt: skip


def test_a_stale_leader_writes_nothing(table: DynamoTable, clock: FakeMonotonic) -> None:
    store, old, b = leading(table, clock)
    store.save_heal(replace_record(), fence=old)
    clock.advance(RENEW)
    b.tick()
    clock.advance(LEASE)
    b.tick()  # the other process took over (fence 2) while this one was frozen
    new = b.current()
    assert new is not None and new.token == 2
    newer = DynamoStateStore(table, b)
    newer.save_heal(replace_record().done("tag-old"), fence=new)
    before = table.query("state"), table.query("audit")
    for write in (
        lambda: store.save_heal(replace_record().done("terminate"), fence=old),
        lambda: store.save_memory(Mode.LIVE, Memory({}, GuardMemory(), True), fence=old),
        lambda: store.audit({"time": 9.0, "result": "done: terminate"}, fence=old),
        lambda: store.record_instance("r1", "i-9", None, fence=old),
        lambda: store.confirm(old),
    ):
        with pytest.raises(FenceLost):
            write()
    assert (table.query("state"), table.query("audit")) == before
    (heal,) = newer.read(Mode.LIVE).unfinished
    assert heal.steps_done == ("tag-old",)


def test_the_table_refuses_an_old_fence_even_when_the_process_believes_it_leads(
    table: DynamoTable, clock: FakeMonotonic
) -> None:
    """The conditional write, not the process's own belief, is what fences."""
    store, fence, _ = leading(table, clock)
    table.update(
        "lease", "leader", {"holder": "host-c pid 3", "fence": 7}, condition="#fence = :f",
        values={":f": fence.token},
    )  # fmt: skip
    with pytest.raises(FenceLost):
        store.save_heal(replace_record(), fence=fence)
    with pytest.raises(FenceLost):
        store.confirm(fence)
    assert table.query("state") == []


def test_confirm_renews_first_and_refuses_a_mutation_that_might_outlast_the_lease(
    table: DynamoTable, clock: FakeMonotonic, emulated_aws: EmulatedAws
) -> None:
    store, fence, _ = leading(table, clock)
    clock.advance(1.8)  # 0.9 s of lease left: less than a mutation's 1 s budget ...
    store.confirm(fence)  # ... so confirm renews first: a whole lease again
    rv = table.get("lease", "leader")["rv"]  # type: ignore[index]
    emulated_aws.add_fault("UpdateItem", "ProvisionedThroughputExceededException", count=-1)
    clock.advance(1.8)
    with pytest.raises(FenceLost, match=r"before a mutation.s 1\.0 s budget"):
        store.confirm(fence)  # the renewal failed: not enough lease left to start
    assert table.get("lease", "leader")["rv"] == rv  # type: ignore[index]


def test_a_request_is_taken_once_and_a_withdrawn_one_is_gone(
    table: DynamoTable, clock: FakeMonotonic
) -> None:
    store, fence, _ = leading(table, clock)
    cli = DynamoStateStore(table, DynamoLease(table, holder="cli", lease_seconds=3,
                                              renew_every=1, margin=0.3))  # fmt: skip
    reset = OperatorRequest("reset-breaker-1-a", RequestKind.RESET_BREAKER, 1.0, "ops@h (pid 1)")
    pause = OperatorRequest("pause-2-b", RequestKind.PAUSE, 2.0, "ops@h (pid 1)")
    cli.submit(reset)
    cli.submit(pause)
    with pytest.raises(Exception, match="condition"):
        cli.submit(reset)  # a request id is written once
    assert [r.request_id for r in store.read(Mode.LIVE).requests] == [
        reset.request_id,
        pause.request_id,
    ]
    store.answer_request(
        RequestAnswer(reset.request_id, RequestStatus.DONE, "closed"), 5.0, fence=fence
    )
    store.answer_request(
        RequestAnswer(reset.request_id, RequestStatus.REFUSED, "again"), 6.0, fence=fence
    )
    answered = cli.request(reset.request_id)
    assert answered is not None and (answered.status, answered.answer) == (
        RequestStatus.DONE,
        "closed",
    )
    cli.withdraw(answered)  # an answered request stays
    cli.withdraw(pause)
    assert [r.request_id for r in cli.requests()[0]] == [reset.request_id]
    assert store.read(Mode.LIVE).requests == ()


def test_an_unreadable_item_is_named_and_moved_aside_never_overwritten(
    table: DynamoTable, clock: FakeMonotonic
) -> None:
    store, fence, _ = leading(table, clock)
    table.put({"pk": "state", "sk": "heal#x", "body": "{not json"})
    table.put(
        {"pk": "state", "sk": "doc#fleet.json", "body": json.dumps({"version": 7, "data": {}})}
    )
    stored = store.read(Mode.LIVE)
    assert {(p.file, p.why) for p in stored.problems} == {
        ("heals/x.json", "not JSON at line 1"),
        ("fleet.json", "schema version 7 is unknown (this vpnwatch reads version 1)"),
    }
    with pytest.raises(FenceLost, match=r"fleet\.json is unreadable"):
        store.record_instance("r1", "i-2", None, fence=fence)
    assert dict(store.check())["heals/x.json"] is not None
    where = store.quarantine("heals/x.json", 1234.0)
    assert where.endswith("item corrupt#heals/x.json#1234")
    assert [p.file for p in store.read(Mode.LIVE).problems] == ["fleet.json"]


def test_an_unreachable_table_is_observe_only_with_the_last_state_read(
    table: DynamoTable, clock: FakeMonotonic, emulated_aws: EmulatedAws
) -> None:
    store, fence, _ = leading(table, clock)
    store.record_instance("r1", "i-2", None, fence=fence)
    assert store.read(Mode.LIVE).fleet.instances == {"r1": "i-2"}
    emulated_aws.add_fault("Query", "ThrottlingException", count=-1)
    stored = store.read(Mode.LIVE)
    (problem,) = stored.problems
    assert problem.file == f"dynamodb:{table.name}" and problem.why.startswith("unreachable: ")
    assert "ThrottlingException" in problem.why
    assert stored.fleet.instances == {"r1": "i-2"}  # relaunched routers are still found


def test_a_document_too_large_for_an_item_is_refused(
    table: DynamoTable, clock: FakeMonotonic
) -> None:
    store, fence, _ = leading(table, clock)
    huge = replace_record().done("capture", launch_spec={"user_data_b64": "A" * 400_000})
    with pytest.raises(DocumentTooLarge, match="more than a DynamoDB item holds"):
        store.save_heal(huge, fence=fence)
    assert table.query("state") == []
