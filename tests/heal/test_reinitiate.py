"""Which op-mode command makes a VyOS router initiate IKE again, by version (issue 12)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from vpnwatch.adapters.vpn_maintenance import parse_replacement_status
from vpnwatch.errors import ParseError
from vpnwatch.heal.reinitiate import reinitiate_plan, release_of

IP = "203.0.113.11"


def show_version(release: str, train: str = "sagitta") -> str:
    return (
        f"Version:          VyOS {release}\nRelease train:    {train}\n\n"
        "Built by:         autobuild@vyos.net\nArchitecture:     x86_64\n"
    )


CONFIG_13 = f"""set vpn ipsec site-to-site peer {IP} authentication mode 'pre-shared-secret'
set vpn ipsec site-to-site peer {IP} vti bind 'vti1'
set vpn ipsec site-to-site peer 203.0.113.10 vti bind 'vti0'
"""


def config_14(connection_type: str | None) -> str:
    lines = [
        "set vpn ipsec site-to-site peer AWS-1 remote-address '203.0.113.10'",
        f"set vpn ipsec site-to-site peer AWS-2 remote-address '{IP}'",
        "set vpn ipsec site-to-site peer AWS-2 vti bind 'vti1'",
    ]
    if connection_type:
        lines.append(f"set vpn ipsec site-to-site peer AWS-2 connection-type '{connection_type}'")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("release", ["1.1.8", "1.2.9-S1", "1.3.8"])
def test_up_to_1_3_the_peer_is_reset_by_its_address_which_initiates(release: str) -> None:
    plan = reinitiate_plan("r1", show_version(release, "equuleus"), CONFIG_13, IP)
    assert plan.command == f"reset vpn ipsec-peer {IP}"
    assert "down, then up" in plan.description


@pytest.mark.parametrize(
    "release", ["1.4.1", "1.4.3", "1.5-stream-2025-Q2", "1.5-rolling-202601090247"]
)
def test_from_1_4_a_named_peer_reset_initiates_with_connection_type_initiate(release: str) -> None:
    plan = reinitiate_plan("r1", show_version(release), config_14("initiate"), IP)
    assert plan.command == "reset vpn ipsec site-to-site peer AWS-2"


@pytest.mark.parametrize(
    ("release", "connection_type", "why"),
    [
        ("1.4.3", None, "peer AWS-2 has no connection-type initiate"),
        ("1.4.3", "respond", "peer AWS-2 has no connection-type initiate"),
        ("1.4.0", "initiate", "before the T6148 fix"),
        ("1.5-rolling-202406120020", "initiate", "before the T6148 fix"),
        ("1.4-rolling-202311200022", "initiate", "before the T6148 fix"),
    ],
)
def test_where_a_peer_reset_only_terminates_restart_vpn_is_used(
    release: str, connection_type: str | None, why: str
) -> None:
    plan = reinitiate_plan("r1", show_version(release), config_14(connection_type), IP)
    assert plan.command == "restart vpn"
    assert why in plan.description and f"VyOS {release}" in plan.description


def test_what_cannot_be_read_is_never_guessed() -> None:
    with pytest.raises(ParseError, match="not `show version` output"):
        reinitiate_plan("r1", "Welcome to VyOS", config_14("initiate"), IP)
    with pytest.raises(ParseError, match="no site-to-site peer with remote-address"):
        reinitiate_plan("r1", show_version("1.4.3"), config_14(None), "192.0.2.1")
    with pytest.raises(ParseError, match=r"no site-to-site peer 192\.0\.2\.1"):
        reinitiate_plan("r1", show_version("1.3.8", "equuleus"), CONFIG_13, "192.0.2.1")
    twice = config_14("initiate") + f"set vpn ipsec site-to-site peer AWS-3 remote-address '{IP}'\n"
    with pytest.raises(ParseError, match="more than one"):
        reinitiate_plan("r1", show_version("1.4.3"), twice, IP)
    with pytest.raises(ParseError, match="not a build date"):
        release_of(show_version("1.5-rolling-202613990000"))


def test_secrets_in_the_config_never_reach_the_plan() -> None:
    secret = "set vpn ipsec authentication psk AWS-2 secret 'Sup3rS3cret'\n"
    plan = reinitiate_plan("r1", show_version("1.4.3"), config_14("initiate") + secret, IP)
    assert "Sup3rS3cret" not in plan.command + plan.description


# ---------------------------------------------------------------- GetVpnTunnelReplacementStatus


def test_replacement_status_is_read_as_epoch_seconds() -> None:
    when = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    answer = {
        "VpnConnectionId": "vpn-1",
        "VpnTunnelOutsideIpAddress": IP,
        "MaintenanceDetails": {
            "PendingMaintenance": "Available",
            "MaintenanceAutoAppliedAfter": when,
            "LastMaintenanceApplied": when,
        },
    }
    found = parse_replacement_status(answer, "vpn-1", IP, 5.0)
    assert (found.pending, found.auto_apply_after, found.last_applied, found.read_at) == (
        True,
        when.timestamp(),
        when.timestamp(),
        5.0,
    )
    for nothing in (None, "", "None", "none available"):
        details = {"PendingMaintenance": nothing} if nothing is not None else {}
        quiet = {**answer, "MaintenanceDetails": details}
        assert parse_replacement_status(quiet, "vpn-1", IP, 5.0).pending is False


def test_a_replacement_status_that_is_not_this_tunnels_is_refused() -> None:
    answer = {"VpnConnectionId": "vpn-2", "VpnTunnelOutsideIpAddress": IP}
    with pytest.raises(ParseError, match="another tunnel"):
        parse_replacement_status(answer, "vpn-1", IP, 0.0)
    odd = {
        "VpnConnectionId": "vpn-1",
        "VpnTunnelOutsideIpAddress": IP,
        "MaintenanceDetails": {"LastMaintenanceApplied": "yesterday"},
    }
    with pytest.raises(ParseError, match="LastMaintenanceApplied is not a timestamp"):
        parse_replacement_status(odd, "vpn-1", IP, 0.0)
