"""deploy/metrics.txt is the list the rules and the dashboard are checked against."""

from __future__ import annotations

import re

from tests.deploy.common import exported_metrics, unknown_references

# The contract from the metrics brief (metrics.md); metrics.txt must name exactly these.
CONTRACT = {
    "vpnwatch_build_info": {"version"},
    "vpnwatch_poll_duration_seconds": set(),
    "vpnwatch_poll_errors_total": {"source"},
    "vpnwatch_last_cycle_timestamp_seconds": set(),
    "vpnwatch_tunnel_up": {"vpn_connection_id", "tunnel_outside_ip", "router"},
    "vpnwatch_tunnel_accepted_routes": {"vpn_connection_id", "tunnel_outside_ip", "router"},
    "vpnwatch_tunnel_last_status_change_timestamp_seconds": {
        "vpn_connection_id",
        "tunnel_outside_ip",
        "router",
    },
    "vpnwatch_router_up": {"router", "site"},
    "vpnwatch_bgp_neighbor_up": {"router", "neighbor"},
    "vpnwatch_bgp_prefixes_received": {"router", "neighbor"},
    "vpnwatch_ipsec_sa_up": {"router", "peer"},
    "vpnwatch_router_health": {"router", "site", "state"},
    "vpnwatch_router_failed_seconds": {"router"},
    "vpnwatch_router_flaps_total": {"router"},
    "vpnwatch_actions_total": {"router", "action", "result"},
    "vpnwatch_heal_in_progress": {"router", "step"},
    "vpnwatch_heal_failures_total": {"router"},
    "vpnwatch_circuit_breaker_open": set(),
    "vpnwatch_dry_run": set(),
    "vpnwatch_paused": set(),
    "vpnwatch_leader": set(),
    "vpnwatch_lease_fence": set(),
    "vpnwatch_lease_renew_failures_total": set(),
    "vpnwatch_lease_transitions_total": set(),
    "vpnwatch_backup_last_success_timestamp_seconds": {"router"},
    "vpnwatch_backup_drift": {"router"},
    "vpnwatch_state_error": {"file"},
    # issue 12: one vs both tunnels down, AWS's tunnel maintenance, AWS requests
    "vpnwatch_vpn_connection_tunnels_down": {"vpn_connection_id", "router"},
    "vpnwatch_tunnel_maintenance_pending": {"vpn_connection_id", "tunnel_outside_ip", "router"},
    "vpnwatch_tunnel_maintenance_auto_apply_timestamp_seconds": {
        "vpn_connection_id",
        "tunnel_outside_ip",
        "router",
    },
    "vpnwatch_tunnel_last_maintenance_timestamp_seconds": {
        "vpn_connection_id",
        "tunnel_outside_ip",
        "router",
    },
    "vpnwatch_tunnel_maintenance_window_start_timestamp_seconds": {
        "vpn_connection_id",
        "tunnel_outside_ip",
        "router",
    },
    "vpnwatch_tunnel_aws_maintenance": {"vpn_connection_id", "tunnel_outside_ip", "router"},
    "vpnwatch_aws_requests_total": {"region", "action", "outcome"},
    "vpnwatch_aws_request_duration_seconds": {"action"},
    "vpnwatch_rehearsal_ok": {"router"},
    "vpnwatch_rehearsal_last_timestamp_seconds": {"router"},
    "vpnwatch_vpn_config_drift": {"router", "section"},
}


def test_metrics_list_matches_the_contract() -> None:
    metrics = exported_metrics()
    assert {name: set(m.labels) for name, m in metrics.items()} == CONTRACT


def test_metric_names_follow_prometheus_conventions() -> None:
    for metric in exported_metrics().values():
        assert re.fullmatch(r"vpnwatch_[a-z][a-z0-9_]*", metric.name), metric.name
        assert metric.kind in {"gauge", "counter", "histogram"}, metric
        assert metric.name.endswith("_total") == (metric.kind == "counter"), metric


def test_reference_checker_finds_unknown_names_and_labels() -> None:
    metrics = exported_metrics()
    assert (
        unknown_references('rate(vpnwatch_poll_duration_seconds_bucket{le="1"}[5m])', metrics) == []
    )
    assert unknown_references("vpnwatch_tunnel_up_total", metrics) == [
        "unknown metric vpnwatch_tunnel_up_total"
    ]
    assert unknown_references('vpnwatch_router_up{state="x"}', metrics) == [
        "vpnwatch_router_up has no label state"
    ]
    # _bucket only belongs to histograms
    assert unknown_references("vpnwatch_router_up_bucket", metrics) == [
        "unknown metric vpnwatch_router_up_bucket"
    ]
