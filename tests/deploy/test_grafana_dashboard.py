"""deploy/grafana/vpnwatch-dashboard.json: a well-formed Grafana dashboard model whose
every query names only metrics (and labels) the daemon exports."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.common import DASHBOARD, exported_metrics, require_tool, unknown_references

PANEL_TYPES = {"row", "stat", "timeseries", "state-timeline", "bargauge", "table"}
GRID_COLUMNS = 24


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


def all_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def test_dashboard_model_is_well_formed(dashboard: dict[str, Any]) -> None:
    assert isinstance(dashboard["schemaVersion"], int) and dashboard["schemaVersion"] >= 36
    assert dashboard["title"] and 8 <= len(dashboard["uid"]) <= 40
    assert "id" not in dashboard or dashboard["id"] is None, "exported with an instance id"
    panels = list(all_panels(dashboard))
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids are not unique"
    for panel in panels:
        assert panel["type"] in PANEL_TYPES, panel["type"]
        grid = panel["gridPos"]
        assert set(grid) == {"h", "w", "x", "y"}
        assert all(isinstance(v, int) and v >= 0 for v in grid.values())
        assert grid["w"] > 0 and grid["h"] > 0 and grid["x"] + grid["w"] <= GRID_COLUMNS
        if panel["type"] == "row":
            continue
        assert panel["title"] and panel["datasource"] == {
            "type": "prometheus",
            "uid": "${datasource}",
        }
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip(), panel["title"]
            assert target["datasource"] == panel["datasource"]


def test_panels_do_not_overlap(dashboard: dict[str, Any]) -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in all_panels(dashboard):
        g = panel["gridPos"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


def test_template_variables(dashboard: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    router = variables["router"]
    assert router["type"] == "query"
    assert router["query"]["query"].startswith("label_values(vpnwatch_router_up")
    assert router["query"]["query"].endswith(", router)")
    assert router["multi"] and router["includeAll"]
    assert variables["site"]["query"]["query"] == "label_values(vpnwatch_router_up, site)"
    assert '{site=~"$site"}' in router["query"]["query"]
    # panels query through the datasource variable and filter by the router variable
    panels_text = json.dumps(dashboard["panels"])
    assert "${datasource}" in panels_text and '=~\\"$router\\"' in panels_text
    referenced = set(re.findall(r"\$\{?([a-z_]+)", panels_text)) - {"__rate_interval"}
    assert referenced <= set(variables), referenced - set(variables)


def test_required_views_are_present(dashboard: dict[str, Any]) -> None:
    exprs = " ".join(t["expr"] for p in all_panels(dashboard) for t in p.get("targets", []))
    for needle in (
        "vpnwatch_router_health",  # fleet by health
        "vpnwatch_tunnel_up",  # tunnels per VPN connection
        "vpnwatch_bgp_prefixes_received",  # BGP prefixes
        'router=~"$router"',  # per-router drill-down
        "vpnwatch_actions_total",  # heals and actions over time
        "vpnwatch_heal_failures_total",
        "vpnwatch_rehearsal_ok",  # could each router be replaced now
        "time() - vpnwatch_backup_last_success_timestamp_seconds",  # backup age
        "histogram_quantile(0.99, sum by (le) (rate(vpnwatch_poll_duration_seconds_bucket",
        "vpnwatch_poll_errors_total",
        # issue 12: one vs both tunnels down, AWS maintenance, AWS requests by outcome
        "vpnwatch_vpn_connection_tunnels_down",
        "== 1) or vector(0)",
        "== 2) or vector(0)",
        "vpnwatch_tunnel_maintenance_pending",
        "vpnwatch_tunnel_maintenance_auto_apply_timestamp_seconds",
        "vpnwatch_tunnel_last_maintenance_timestamp_seconds",
        "vpnwatch_tunnel_aws_maintenance",
        "sum by (region, outcome) (rate(vpnwatch_aws_requests_total",
        "vpnwatch_aws_request_duration_seconds_bucket",
        "vpnwatch_lease_fence",  # the pair: who leads, the fencing token
        "vpnwatch_lease_transitions_total",
    ):
        assert needle in exprs, needle


def test_every_expression_is_valid_promql(dashboard: dict[str, Any], tmp_path: Path) -> None:
    """promtool parses each query (as a recording rule, Grafana's variables filled in)."""
    promtool = require_tool("promtool")
    fill = {"$__rate_interval": "5m", "${datasource}": "x", "$router": ".*", "$site": ".*"}
    rules = []
    for n, (title, expr) in enumerate(expressions(dashboard)):
        for variable, value in fill.items():
            expr = expr.replace(variable, value)
        assert "$" not in expr, title
        rules.append({"record": f"dashboard:query_{n}", "expr": expr})
    path = tmp_path / "dashboard-rules.yaml"
    path.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}))
    check = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_promql_check_can_fail(tmp_path: Path) -> None:
    promtool = require_tool("promtool")
    bad = {"record": "dashboard:bad", "expr": "sum by (le (rate(vpnwatch_tunnel_up[5m]))"}
    path = tmp_path / "bad.yaml"
    path.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": [bad]}]}))
    check = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, timeout=60)
    assert check.returncode != 0


def expressions(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for panel in all_panels(dashboard):
        for target in panel.get("targets", []):
            yield f"{panel['title']}/{target['refId']}", target["expr"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query" and not variable["query"]["query"].startswith("label_"):
            yield f"variable {variable['name']}", variable["query"]["query"]


def test_every_expression_uses_exported_metrics(dashboard: dict[str, Any]) -> None:
    metrics = exported_metrics()
    problems = {
        f"{panel['title']}/{target['refId']}": unknown_references(target["expr"], metrics)
        for panel in all_panels(dashboard)
        for target in panel.get("targets", [])
        if unknown_references(target["expr"], metrics)
    }
    variables = dashboard["templating"]["list"]
    problems.update(
        {
            f"variable {v['name']}": unknown_references(v["query"]["query"], metrics)
            for v in variables
            if v["type"] == "query" and unknown_references(v["query"]["query"], metrics)
        }
    )
    assert problems == {}
