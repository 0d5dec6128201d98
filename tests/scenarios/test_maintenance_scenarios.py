"""AWS's tunnel endpoint maintenance, end to end (issue 12): `vpnwatch run` as a process
against the emulated world. AWS's side is driven as an operator would (`vpnwatch lab
maintenance`, boto3 calls to the emulated endpoint); the daemon's reasons, its audit trail and
the world's truth are what is checked.

The lab's routers run VyOS 1.4 with the article's config (no `connection-type`), so a peer
reset would only terminate: the daemon re-initiates with `restart vpn` (heal/reinitiate.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.scenarios.harness import Scenario, audit_entries, wait_for
from vpnwatch.lab.clients import lab_client

pytestmark = pytest.mark.e2e

R = "spoke1-r1"
HEALTHY = "no action: 6/6 routers healthy"
LADDER = ("resetting", "restarting", "rebooting", "replacing")
ENV = {
    # a failure needs three cycles and 4 s: the same hysteresis for every scenario here
    "VPNWATCH_HEALTH__FAILURES": "3",
    "VPNWATCH_HEALTH__MIN_FAILED_SECONDS": "4",
    "VPNWATCH_MAINTENANCE__INTERVAL": "600",
    "VPNWATCH_MAINTENANCE__RECHECK": "5",
    "VPNWATCH_MAINTENANCE__CALLS_PER_SECOND": "50",
    "VPNWATCH_MAINTENANCE__REINITIATE": json.dumps(
        {"after": 10, "verify_window": 10, "attempts": 3}
    ),
}


@pytest.fixture
def scenario(tmp_path: Path) -> Iterator[Callable[..., Scenario]]:
    made: list[Scenario] = []

    def make(**options: Any) -> Scenario:
        env = {**ENV, **options.pop("env", {})}
        s = Scenario(tmp_path / f"s{len(made)}", env=env, **options)
        made.append(s)
        s.start()
        return s

    try:
        yield make
    finally:
        for s in made:
            s.stop()


def lab_cli(s: Scenario, *args: str) -> dict[str, Any]:
    """`vpnwatch lab ...` against the scenario's world, as an operator runs it."""
    done = subprocess.run(
        [sys.executable, "-m", "vpnwatch", "lab", *args, "--config", str(s.config)],
        env=s.env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def tunnel_up(s: Scenario, router: str, ip: str) -> bool:
    return bool(s.world.routers.view(router)["ipsec"].get(ip) == "up")


def ec2(s: Scenario) -> Any:
    return lab_client("ec2", s.world.endpoint_url, total_max_attempts=1)


def actions(s: Scenario) -> list[str]:
    return [str(e["action"]) for e in audit_entries(s)]


def test_an_endpoint_replacement_is_maintenance_and_only_ike_is_reinitiated(scenario) -> None:  # type: ignore[no-untyped-def]
    s = scenario()
    s.wait_reason(lambda r: r == HEALTHY)
    conn = s.world.topology.connections_of(R)[0]
    ip = conn.tunnels[1].outside_ip
    shown = lab_cli(s, "maintenance", conn.id, ip, "apply", "--ikev1", "--down-for", "3")
    assert shown["last_applied"] is not None and shown["replacing"] is True
    s.wait_reason(lambda r: f"tunnel {ip}: AWS endpoint maintenance (applied" in r, after=True)
    s.wait_reason(lambda r: r.startswith(f"re-initiating IKE on {R} for tunnel {ip}"), after=True)
    s.wait_reason(lambda r: r == HEALTHY, after=True)
    assert tunnel_up(s, R, ip)
    assert not any(r.startswith(LADDER) for r in s.reasons())
    entries = audit_entries(s)
    assert entries and {e["action"] for e in entries} == {"reinitiate-ike"}
    assert all(e["result"].startswith(f"done: restart vpn on {R} for peer AWS-2") for e in entries)
    assert (
        s.metric(f'vpnwatch_actions_total{{action="reinitiate-ike",router="{R}",result="success"}}')
        >= 1
    )
    assert (
        s.metric(f'vpnwatch_tunnel_last_maintenance_timestamp_seconds{{tunnel_outside_ip="{ip}"}}')
        > 0
    )


def replace_both(s: Scenario, vpn_id: str, ips: list[str], *, maintenance: bool) -> None:
    """AWS replaces both endpoints of a connection, one after the other (IKEv1: both stay
    down until the router initiates). With `maintenance` AWS records it as maintenance,
    without it nothing says why (ReplaceVpnTunnel with nothing pending)."""
    for ip in ips:
        if maintenance:
            s.world.aws.maintenance.apply(vpn_id, ip, ikev1=True, down_for=3)
        else:
            ec2(s).replace_vpn_tunnel(VpnConnectionId=vpn_id, VpnTunnelOutsideIpAddress=ip)
        if ip != ips[-1]:
            wait_for(
                "the first endpoint to be back",
                lambda ip=ip: not s.world.aws.maintenance.view(vpn_id, ip)["replacing"],
                timeout=30,
            )


def test_both_tunnels_replaced_for_maintenance_climb_no_ladder(scenario) -> None:  # type: ignore[no-untyped-def]
    s = scenario(env={"VPNWATCH_MAINTENANCE__REINITIATE": json.dumps({"after": 14})})
    s.wait_reason(lambda r: r == HEALTHY)
    conn = s.world.topology.connections_of(R)[0]
    ips = [t.outside_ip for t in conn.tunnels]
    replace_both(s, conn.id, ips, maintenance=True)
    both = s.wait_reason(
        lambda r: (
            f"{R} degraded: tunnel {ips[0]}: AWS endpoint maintenance" in r
            and f"tunnel {ips[1]}: AWS endpoint maintenance" in r
        ),
        after=True,
    )
    assert "(applied" in both
    s.wait_reason(lambda r: r.startswith(f"re-initiating IKE on {R}"), after=True)
    s.wait_reason(lambda r: r == HEALTHY, after=True, timeout=120)
    assert all(tunnel_up(s, R, ip) for ip in ips)
    assert not any(r.startswith(LADDER) for r in s.reasons())
    assert set(actions(s)) == {"reinitiate-ike"}
    assert not any(a in ("reboot", "replace") for a in actions(s))


def test_the_same_replacements_without_a_maintenance_record_escalate_as_today(scenario) -> None:  # type: ignore[no-untyped-def]
    s = scenario(env={"VPNWATCH_MAINTENANCE__REINITIATE": json.dumps({"after": 14})})
    s.wait_reason(lambda r: r == HEALTHY)
    conn = s.world.topology.connections_of(R)[0]
    ips = [t.outside_ip for t in conn.tunnels]
    replace_both(s, conn.id, ips, maintenance=False)
    s.wait_reason(lambda r: r.startswith(f"resetting BGP on {R}: {R} bgp-ipsec-down"), after=True)
    s.wait_reason(lambda r: r.startswith(f"restarting VPN on {R}"), after=True, timeout=120)
    s.wait_reason(lambda r: r == HEALTHY, after=True, timeout=120)
    assert not any("AWS endpoint maintenance" in r for r in s.reasons())
    assert "reinitiate-ike" not in actions(s)
    assert list(dict.fromkeys(actions(s))) == ["reset-bgp", "restart-vpn"]


# pending maintenance is learnt by the slow sweep: every 10 s here (600 s by default)
SWEEP = {"VPNWATCH_MAINTENANCE__INTERVAL": "10"}


def window_now() -> str:
    """A controlled maintenance window open now (and for the next two hours), in UTC."""
    now = datetime.now(UTC)
    start, end = now - timedelta(minutes=30), now + timedelta(hours=2)
    days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    window = {"days": [days[start.weekday()]], "start": f"{start:%H:%M}", "end": f"{end:%H:%M}"}
    return json.dumps({"enabled": True, "window": window})


def lifecycle_and_pending(s: Scenario, vpn_id: str, ip: str) -> None:
    ec2(s).modify_vpn_tunnel_options(
        VpnConnectionId=vpn_id,
        VpnTunnelOutsideIpAddress=ip,
        TunnelOptions={"EnableTunnelLifecycleControl": True},
        SkipTunnelReplacement=True,
    )
    lab_cli(s, "maintenance", vpn_id, ip, "pending", "--auto-apply-in", str(5 * 86400))


def test_controlled_maintenance_one_tunnel_at_a_time_and_never_with_a_sick_partner(
    scenario,  # type: ignore[no-untyped-def]
) -> None:
    s = scenario(env={"VPNWATCH_MAINTENANCE__APPLY": window_now(), **SWEEP})
    s.wait_reason(lambda r: r == HEALTHY)
    spoke = s.world.topology.connections_of(R)[0]
    hub = s.world.topology.connections_of("hub-r1")[0]
    partner = s.world.topology.connections_of("spoke1-r2")[0]
    s.world.aws.set_tunnel(partner.id, partner.tunnels[0].outside_ip, "DOWN")  # spoke1-r2 sick
    s.wait_reason(lambda r: "spoke1-r2 degraded" in r, after=True)
    first, second = spoke.tunnels[0].outside_ip, hub.tunnels[1].outside_ip
    lifecycle_and_pending(s, spoke.id, first)
    lifecycle_and_pending(s, hub.id, second)
    s.wait_reason(
        lambda r: r.startswith(f"applying AWS's pending maintenance to tunnel {second}"), after=True
    )  # hub-r1's partner is healthy: it goes first
    s.wait_reason(lambda r: r.startswith("re-initiating IKE on hub-r1"), after=True)
    s.wait_cycles(4)
    assert s.world.aws.maintenance.view(spoke.id, first)["pending"] is True  # spoke1-r2 sick
    s.world.aws.set_tunnel(partner.id, partner.tunnels[0].outside_ip, None)
    s.wait_reason(
        lambda r: r.startswith(f"applying AWS's pending maintenance to tunnel {first}"), after=True
    )
    s.wait_reason(lambda r: r == HEALTHY, after=True, timeout=120)
    entries = [e for e in audit_entries(s) if e["action"] == "apply-maintenance"]
    assert [e["step"] for e in entries] == [
        f"apply-maintenance {second}",
        f"apply-maintenance {first}",
    ]
    assert all(e["result"].startswith("done: apply AWS's pending maintenance") for e in entries)
    # one at a time: the second only after the first tunnel was back (re-initiated)
    reinit_hub = next(
        e for e in audit_entries(s) if e["action"] == "reinitiate-ike" and e["router"] == "hub-r1"
    )
    assert reinit_hub["time"] < entries[1]["time"]
    for vpn_id, ip in ((spoke.id, first), (hub.id, second)):
        view = s.world.aws.maintenance.view(vpn_id, ip)
        assert view["pending"] is False and view["last_applied"] is not None


def test_controlled_maintenance_in_dry_run_only_says_it_would_have(scenario) -> None:  # type: ignore[no-untyped-def]
    s = scenario(dry_run=True, env={"VPNWATCH_MAINTENANCE__APPLY": window_now(), **SWEEP})
    s.wait_reason(lambda r: r == HEALTHY)
    spoke = s.world.topology.connections_of(R)[0]
    ip = spoke.tunnels[0].outside_ip
    lifecycle_and_pending(s, spoke.id, ip)
    s.wait_reason(
        lambda r: r.startswith(f"applying AWS's pending maintenance to tunnel {ip}"), after=True
    )
    s.wait_cycles(3)
    entries = audit_entries(s)
    assert entries and all(e["dry_run"] is True for e in entries)
    assert (
        entries[0]["result"]
        == f"would have apply AWS's pending maintenance to tunnel {ip} of {spoke.id}"
    )
    view = s.world.aws.maintenance.view(spoke.id, ip)
    assert view["pending"] is True and view["last_applied"] is None
    assert s.metric(f'vpnwatch_tunnel_maintenance_pending{{tunnel_outside_ip="{ip}"}}') == 1
