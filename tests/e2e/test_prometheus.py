"""A real Prometheus scrapes the daemon with the project's alert rules (issue: deploy e2e)."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_daemon_process import Daemon, wait_for
from vpnwatch.lab.world import LabWorld

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        shutil.which("prometheus") is None, reason="needs Debian's prometheus package"
    ),
]
RULES = Path(__file__).parents[2] / "deploy" / "prometheus" / "vpnwatch-rules.yaml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Prometheus:
    def __init__(self, workdir: Path, target_port: int) -> None:
        self.port = free_port()
        config = workdir / "prometheus.yml"
        rules = workdir / "rules.yaml"
        shutil.copy(RULES, rules)
        config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            f"rule_files: [{rules}]\n"
            "scrape_configs:\n"
            "  - job_name: vpnwatch\n"
            f"    static_configs: [{{targets: ['127.0.0.1:{target_port}']}}]\n"
        )
        self.log = (workdir / "prometheus.log").open("w")
        self.proc = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def api(self, path: str, **params: str) -> Any:
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=5) as resp:
            return json.loads(resp.read())["data"]

    def ready(self) -> bool:
        assert self.proc.poll() is None, "prometheus exited"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture
def daemon(lab_world: LabWorld, tmp_path: Path) -> Iterator[Daemon]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("VPNWATCH_")}
    env.update(
        VPNWATCH_STATE_DIR=str(tmp_path / "state"),
        VPNWATCH_METRICS__LISTEN="127.0.0.1:0",
        VPNWATCH_LOGGING__FORMAT="json",
        VPNWATCH_HEALTH__MIN_FAILED_SECONDS="2",
        VPNWATCH_HEALTH__FAILURES="2",
    )
    d = Daemon(lab_world.write_config(), env)
    try:
        yield d
    finally:
        d.stop()


def test_prometheus_scrapes_everything_and_the_router_failed_alert_fires(
    lab_world: LabWorld, daemon: Daemon, tmp_path: Path
) -> None:
    prom = Prometheus(tmp_path, daemon.port())
    try:
        wait_for("prometheus ready", prom.ready)
        wait_for(
            "the target up",
            lambda: any(t["health"] == "up" for t in prom.api("targets")["activeTargets"]),
        )
        names = set(prom.api("label/__name__/values"))
        for name in (
            "vpnwatch_build_info",
            "vpnwatch_tunnel_up",
            "vpnwatch_router_health",
            "vpnwatch_poll_duration_seconds_bucket",
            "vpnwatch_poll_errors_total",
            "vpnwatch_tunnel_accepted_routes",
            "vpnwatch_dry_run",
            "vpnwatch_vpn_connection_tunnels_down",
            "vpnwatch_tunnel_maintenance_pending",
            "vpnwatch_aws_requests_total",
            "vpnwatch_aws_request_duration_seconds_bucket",
        ):
            wait_for(name, lambda n=name: n in names or n in set(prom.api("label/__name__/values")))
        ups = prom.api("query", query="sum(vpnwatch_tunnel_up)")["result"]
        assert ups and float(ups[0]["value"][1]) == 16.0
        rules = prom.api("rules")["groups"]
        assert any(r["name"] == "VpnwatchRouterFailed" for g in rules for r in g["rules"])

        lab_world.fault("spoke2-r1", "crash")  # SSH refused, then AWS sees its tunnels DOWN

        def alert_state() -> str | None:
            for alert in prom.api("alerts")["alerts"]:
                if (
                    alert["labels"]["alertname"] == "VpnwatchRouterFailed"
                    and alert["labels"].get("router") == "spoke2-r1"
                ):
                    return str(alert["state"])
            return None

        state = wait_for("VpnwatchRouterFailed pending", alert_state, timeout=60)
        assert state in ("pending", "firing")
        others = [
            a
            for a in prom.api("alerts")["alerts"]
            if a["labels"]["alertname"] == "VpnwatchRouterFailed"
            and a["labels"].get("router") != "spoke2-r1"
        ]
        assert others == []
    finally:
        prom.stop()
        lab_world.fault("spoke2-r1", "crash", clear=True)
