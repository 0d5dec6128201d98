from __future__ import annotations

import pytest

from tests.core.builders import aws_view, observation, snapshot, ssh_view
from vpnwatch.config import HealthConfig
from vpnwatch.core.health import assess, evaluate, tunnel_verdicts
from vpnwatch.core.memory import RouterHistory
from vpnwatch.vocabulary import Health, SshErrorKind, TunnelStatus

SETTINGS = HealthConfig(failures=3, min_failed_seconds=10.0)


@pytest.mark.parametrize(
    "aws, ssh, health",
    [
        (aws_view("r1"), ssh_view("r1"), Health.HEALTHY),
        (aws_view("r1"), None, Health.HEALTHY),
        (aws_view("r1", ("UP", "DOWN")), None, Health.DEGRADED),
        (aws_view("r1", ("DOWN", "DOWN")), None, Health.FAILED),
        (aws_view("r1", ("DOWN", "DOWN")), ssh_view("r1", reachable=False), Health.FAILED),
        # management path broken but AWS sees the tunnels: not failed
        (aws_view("r1"), ssh_view("r1", reachable=False), Health.DEGRADED),
        # AWS endpoint maintenance: one tunnel down on both sides, the other fine
        (
            aws_view("r1", ("UP", "DOWN")),
            ssh_view("r1", (True, False), (True, False)),
            Health.DEGRADED,
        ),
        (
            aws_view("r1", ("DOWN", "DOWN")),
            ssh_view("r1", (False, False), (False, False)),
            Health.FAILED,
        ),
        (
            aws_view("r1", ("DOWN", "DOWN")),
            ssh_view("r1", (False, False), (True, True)),
            Health.FAILED,
        ),
        # never failed on what we could not understand or could not see
        (
            aws_view("r1", ("DOWN", "DOWN")),
            ssh_view("r1", error_kind=SshErrorKind.PARSE),
            Health.UNKNOWN,
        ),
        (
            aws_view("r1", ("DOWN", "DOWN")),
            ssh_view("r1", error_kind=SshErrorKind.HOST_KEY),
            Health.UNKNOWN,
        ),
        (aws_view("r1", error="aws us-east-1: RequestLimitExceeded"), None, Health.UNKNOWN),
        (
            aws_view("r1", error="aws us-east-1: 503"),
            ssh_view("r1", reachable=False),
            Health.UNKNOWN,
        ),
        (aws_view("r1", state="terminated"), None, Health.FAILED),
        # prefixes below the expectation count as not up
        (aws_view("r1", routes=0), None, Health.FAILED),
    ],
)
def test_assess(aws, ssh, health) -> None:  # type: ignore[no-untyped-def]
    result = assess(observation("r1", aws, ssh))
    assert result.health is health, result.reason
    assert result.reason.startswith("r1: ")


def test_failure_kinds() -> None:
    down = aws_view("r1", ("DOWN", "DOWN"))
    assert (
        assess(observation("r1", down, ssh_view("r1", reachable=False))).failure_kind
        == "unreachable"
    )
    assert (
        assess(observation("r1", down, ssh_view("r1", (False, False)))).failure_kind
        == "bgp-ipsec-down"
    )


def run(sequence: list[tuple[float, object]]) -> list[Health]:
    histories: dict[str, RouterHistory] = {}
    out = []
    for now, obs in sequence:
        verdicts, histories = evaluate(snapshot(obs, at=now), histories, now, SETTINGS, {})  # type: ignore[arg-type]
        out.append(verdicts[0].health)
    return out


def test_hysteresis_needs_n_cycles_and_t_seconds() -> None:
    dead = observation("r1", aws_view("r1", ("DOWN", "DOWN")), ssh_view("r1", reachable=False))
    # 3 cycles but only 4 s: not yet; 5th cycle at 10 s: failed
    assert run([(0, dead), (2, dead), (4, dead), (6, dead), (10, dead)]) == [
        Health.DEGRADED,
        Health.DEGRADED,
        Health.DEGRADED,
        Health.DEGRADED,
        Health.FAILED,
    ]
    # 10 s but only 2 cycles: not yet
    assert run([(0, dead), (30, dead)]) == [Health.DEGRADED, Health.DEGRADED]


def test_unknown_neither_counts_nor_resets_a_failure() -> None:
    dead = observation("r1", aws_view("r1", ("DOWN", "DOWN")), ssh_view("r1", reachable=False))
    blind = observation("r1", aws_view("r1", error="throttled"), ssh_view("r1", reachable=False))
    assert run([(0, dead), (5, dead), (10, blind), (15, dead)]) == [
        Health.DEGRADED,
        Health.DEGRADED,
        Health.UNKNOWN,
        Health.FAILED,
    ]


def test_recovery_resets_and_counts_a_flap() -> None:
    dead = observation("r1", aws_view("r1", ("DOWN", "DOWN")), ssh_view("r1", reachable=False))
    fine = observation("r1", aws_view("r1"), ssh_view("r1"))
    histories: dict[str, RouterHistory] = {}
    flaps = []
    for now, obs in [(0, dead), (5, fine), (10, dead), (15, fine), (20, fine)]:
        verdicts, histories = evaluate(snapshot(obs, at=now), histories, now, SETTINGS, {})
        flaps.append(verdicts[0].flaps)
    assert flaps == [0, 1, 1, 2, 2]
    assert histories["r1"].consecutive_failures == 0


def test_verdict_reason_mentions_duration_when_persistent() -> None:
    dead = observation("r1", aws_view("r1", ("DOWN", "DOWN")), ssh_view("r1", reachable=False))
    histories: dict[str, RouterHistory] = {}
    verdicts = ()
    for now in (0.0, 5.0, 12.0):
        verdicts, histories = evaluate(snapshot(dead, at=now), histories, now, SETTINGS, {})
    assert verdicts[0].health is Health.FAILED
    assert verdicts[0].reason.endswith("for 12 s")
    assert verdicts[0].failure_kind == "unreachable"


def test_tunnel_verdicts_skip_unknown_regions() -> None:
    snap = snapshot(
        observation("r1", aws_view("r1", ("UP", "DOWN"))),
        observation("r2", aws_view("r2", error="boom")),
    )
    tunnels = tunnel_verdicts(snap)
    assert [(t.router, t.status) for t in tunnels] == [
        ("r1", TunnelStatus.UP),
        ("r1", TunnelStatus.DOWN),
    ]
