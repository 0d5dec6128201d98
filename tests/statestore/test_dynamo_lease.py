"""The DynamoDB lease, step by step: two processes' lease keepers on one emulated table,
each on its own fake monotonic clock (offset from the other's: no clock sync needed),
ticked by hand. Every step is a real conditional write over HTTP."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.statestore.conftest import FakeMonotonic
from vpnwatch.adapters.dynamodb import DynamoTable
from vpnwatch.lab.aws_world import EmulatedAws
from vpnwatch.statestore.dynamo_lease import LEASE_KEY, DynamoLease

LEASE, RENEW, MARGIN = 3.0, 1.0, 0.3


def lease_of(
    table: DynamoTable, holder: str, clock: Callable[[], float], **options: object
) -> DynamoLease:
    return DynamoLease(
        table,
        holder=holder,
        lease_seconds=LEASE,
        renew_every=RENEW,
        margin=MARGIN,
        monotonic=clock,
        **options,  # type: ignore[arg-type]
    )


def pair(table: DynamoTable, clock: FakeMonotonic) -> tuple[DynamoLease, DynamoLease]:
    a = lease_of(table, "host-a pid 1", clock)
    b = lease_of(table, "host-b pid 2", lambda: clock.now + 5_000.0)  # another machine's clock
    return a, b


def test_one_leader_renewing_keeps_the_standby_out_for_ever(
    table: DynamoTable, clock: FakeMonotonic
) -> None:
    a, b = pair(table, clock)
    a.tick()
    b.tick()
    assert a.current() is not None and a.current().token == 1  # type: ignore[union-attr]
    assert b.current() is None and b.holder() == "host-a pid 1, fence 1"
    for _ in range(30):  # ten leases of renewals: the record version keeps changing
        clock.advance(RENEW)
        a.tick()
        b.tick()
        assert a.current() is not None and b.current() is None
    assert a.status().transitions == 1 and b.status().fence == 1 and not b.status().leader


def test_the_standby_takes_over_only_after_a_whole_lease_and_the_leader_stopped_before(
    table: DynamoTable, clock: FakeMonotonic
) -> None:
    a, b = pair(table, clock)
    a.tick()
    b.tick()
    clock.advance(RENEW)
    a.tick()  # the leader's last renewal ...
    b.tick()  # ... seen by the standby at once; then the leader dies
    seen = clock.now
    waits = []
    while b.current() is None:
        waits.append(b.tick())
        if b.current() is None:
            clock.advance(min(waits[-1], 0.125))
        assert clock.now - seen < 2 * LEASE
    took_over = clock.now
    assert took_over - seen >= LEASE  # a whole lease of the same record version
    assert b.current().token == 2 and b.previous() == "host-a pid 1, fence 1"  # type: ignore[union-attr]
    # The old leader had stopped counting itself leader a margin before that, by its clock.
    clock.now = took_over - MARGIN
    assert a.current() is None
    assert a.status().transitions == 2  # led, then demoted by its own clock


def test_a_leader_that_wakes_up_late_is_fenced_and_demotes(
    table: DynamoTable, clock: FakeMonotonic
) -> None:
    a, b = pair(table, clock)
    a.tick()
    old = a.current()
    b.tick()
    clock.advance(LEASE + RENEW)  # the leader is frozen (SIGSTOP) for longer than a lease
    b.tick()
    assert b.current() is not None and b.current().token == 2  # type: ignore[union-attr]
    assert a.current() is None  # its own clock says its lease is over: it never renews it
    a.tick()  # it wakes up and watches: the holder is host-b now
    assert a.current() is None and a.holder() == "host-b pid 2, fence 2"
    assert old is not None and old.token == 1


def test_a_renewal_refused_because_someone_else_took_over_demotes_at_once(
    table: DynamoTable, clock: FakeMonotonic
) -> None:
    a, _ = pair(table, clock)
    a.tick()
    # Someone took the lease behind this leader's back (an operator deleting and recreating
    # the item would look the same): the conditional renewal fails, the fence is lost.
    table.update(
        *LEASE_KEY, {"holder": "host-c pid 3", "fence": 9, "rv": "x"}, condition="#fence = :f",
        values={":f": 1},
    )  # fmt: skip
    clock.advance(RENEW)
    a.tick()
    assert a.current() is None and a.holder() == "host-c pid 3, fence 9"


def test_a_renewal_whose_answer_was_lost_is_recognised_as_our_own(
    table: DynamoTable, clock: FakeMonotonic, emulated_aws: EmulatedAws
) -> None:
    a, _ = pair(table, clock)
    a.tick()
    # The renewal is applied after the client gave up waiting (read timeout 0.5 s); the
    # client's retry then finds a record version it does not know: its own.
    emulated_aws.add_fault("UpdateItem", delay=0.8, count=1)
    clock.advance(RENEW)
    a.tick()
    assert a.current() is not None and a.current().token == 1  # type: ignore[union-attr]
    assert a.status().renew_failures == 0
    clock.advance(RENEW)
    a.tick()
    assert a.current() is not None


def test_throttled_store_the_leader_demotes_before_its_lease_ends_and_nobody_takes_over(
    table: DynamoTable, clock: FakeMonotonic, emulated_aws: EmulatedAws
) -> None:
    a, b = pair(table, clock)
    a.tick()
    b.tick()
    renewed = clock.now
    for action in ("UpdateItem", "PutItem", "GetItem"):
        emulated_aws.add_fault(action, "ProvisionedThroughputExceededException", count=-1)
    leader_until = None
    for _ in range(40):
        clock.advance(0.25)
        for lease in (a, b):
            lease.tick()
        if leader_until is None and a.current() is None:
            leader_until = clock.now
        assert b.current() is None  # it cannot see the lease: it never takes it
    assert leader_until is not None and leader_until <= renewed + LEASE - MARGIN + 0.25
    assert a.status().renew_failures >= 5
    emulated_aws.clear_faults()
    for _ in range(20):  # the store is back: a lease later (of unchanged record), one leads
        clock.advance(0.5)
        a.tick()
        b.tick()
    leaders = [x for x in (a, b) if x.current() is not None]
    assert len(leaders) == 1 and leaders[0].current().token == 2  # type: ignore[union-attr]


def test_when_writes_are_refused_the_standby_says_the_leader_stopped_renewing(
    table: DynamoTable, clock: FakeMonotonic, emulated_aws: EmulatedAws
) -> None:
    a, b = pair(table, clock)
    a.tick()
    b.tick()
    emulated_aws.add_fault("UpdateItem", "InternalServerError", status=500, count=-1)
    for _ in range(5 * 4):
        clock.advance(0.25)
        a.tick()
        b.tick()
    assert a.current() is None and b.current() is None  # nobody leads, nobody acts
    assert b.holder() is not None and b.holder().startswith(  # type: ignore[union-attr]
        "host-a pid 1, fence 1 (not renewed for "
    )


def test_a_released_lease_is_taken_at_once(table: DynamoTable, clock: FakeMonotonic) -> None:
    a, b = pair(table, clock)
    a.tick()
    b.tick()
    a.release()
    assert a.current() is None
    clock.advance(0.01)
    b.tick()
    assert b.current() is not None and b.current().token == 2  # type: ignore[union-attr]


def test_a_cli_takes_only_a_free_lease_and_never_a_held_one(
    table: DynamoTable, clock: FakeMonotonic
) -> None:
    daemon = lease_of(table, "host-a pid 1", clock)
    daemon.tick()
    cli = lease_of(table, "ops@host-a (pid 9)", clock, takeover=False)
    assert cli.acquire() is None
    clock.advance(10 * LEASE)  # the daemon died long ago: still the CLI does not take it
    cli.tick()
    assert cli.acquire() is None and cli.holder() == "host-a pid 1, fence 1"
    other = lease_of(table, "host-b pid 2", clock)
    other.tick()
    clock.advance(LEASE)
    other.tick()  # a daemon takes the abandoned lease after watching it for a lease ...
    assert other.current() is not None
    other.release()  # ... and stops cleanly: the lease is free
    fence = cli.acquire()
    assert fence is not None and fence.token == 3


def test_lease_settings_must_leave_room(table: DynamoTable, clock: FakeMonotonic) -> None:
    with pytest.raises(ValueError, match="shorter than the lease"):
        DynamoLease(table, holder="x", lease_seconds=1, renew_every=2, margin=0.1, monotonic=clock)
