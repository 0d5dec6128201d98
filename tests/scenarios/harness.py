"""A world + a daemon process, and ways to watch both (for the fault scenarios)."""

from __future__ import annotations

import json
import os
import re
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.e2e.test_daemon_process import Daemon, wait_for
from vpnwatch.lab.world import LabWorld

UNREACHABLE_REPLACE = (
    '{"unreachable": ["replace"], '
    '"bgp-ipsec-down": ["reset-bgp", "restart-vpn", "reboot", "replace"]}'
)

__all__ = [
    "UNREACHABLE_REPLACE",
    "Scenario",
    "all_healthy",
    "assert_replaced",
    "audit_entries",
    "running_instances",
    "wait_for",
]


def all_healthy(reason: str) -> bool:
    """The cycle decided nothing and every router is healthy. What follows the decision
    (VPN config drift, rehearsals, requests) is said after a "; " and is not part of it."""
    return reason.split("; ")[0] == "no action: 6/6 routers healthy"


def running_instances(state: dict[str, Any], router: str) -> list[dict[str, Any]]:
    return [i for i in state["instances"] if i.get("router") == router and i["state"] == "running"]


def assert_replaced(world: LabWorld, router: str, old_instance: str, private_ip: str) -> str:
    state = world.state()
    mine = running_instances(state, router)
    assert len(mine) == 1, mine
    new = mine[0]
    assert new["instance_id"] != old_instance
    assert new["private_ip"] == private_ip
    assert new["source_dest_check"] is False
    eip = world.topology.router(router).public_ip
    assert new["public_ip"] == eip
    assert world.aws.eip_holder(eip) == new["instance_id"]
    old = next(i for i in state["instances"] if i["instance_id"] == old_instance)
    assert old["state"] == "terminated"
    assert world.wait_router(router, 30, established=True)
    return str(new["instance_id"])


class Scenario:
    def __init__(
        self,
        workdir: Path,
        *,
        ladder: str | None = None,
        dry_run: bool = False,
        env: dict[str, str] | None = None,
        world_options: dict[str, Any] | None = None,
    ) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True)
        self.world = LabWorld(
            workdir / "world",
            detection_delay=1.0,
            release_delay=2.0,
            boot_delay=0.5,
            console_delay=0.5,
            heal_dry_run=dry_run,
            **(world_options or {}),
        )
        self.state_dir = workdir / "state"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("VPNWATCH_")}
        self.env.update(self.world.daemon_environ())  # the IAM principal with iam_policy
        self.env.update(
            VPNWATCH_STATE_DIR=str(self.state_dir),
            VPNWATCH_METRICS__LISTEN="127.0.0.1:0",
            VPNWATCH_LOGGING__FORMAT="json",
            VPNWATCH_HEALTH__FAILURES="2",
            VPNWATCH_HEALTH__MIN_FAILED_SECONDS="2",
            VPNWATCH_HEAL__VERIFY_WINDOWS=json.dumps(
                dict.fromkeys(("reset_bgp", "restart_vpn", "reboot", "stop_start", "replace"), 8)
            ),
            VPNWATCH_HEAL__COOLDOWN="5",
            VPNWATCH_HEAL__DRY_RUN="true" if dry_run else "false",
        )
        if ladder:
            self.env["VPNWATCH_HEAL__LADDER"] = ladder
        self.env.update(env or {})
        self.daemon: Daemon | None = None  # type: ignore[assignment]
        self._old_logs: list[dict[str, Any]] = []
        self._started = time.monotonic()
        self._port: int | None = None
        self._restarts = 0

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self.world.start()
        assert self.world.wait_router("spoke1-r1", 30, established=True)
        self.config = self.world.write_config()
        self.restart_daemon()

    def restart_daemon(self) -> None:
        if self.daemon is not None:
            self._old_logs += self.daemon.lines()
        n = self._restarts
        self._restarts += 1
        log_dir = self.workdir / f"daemon-{n}"
        log_dir.mkdir()
        cfg = log_dir / "vpnwatch.yaml"
        cfg.write_text(self.config.read_text())
        self.daemon = Daemon(cfg, self.env)
        self._port = None

    def stop(self) -> None:
        try:
            if self.daemon is not None:
                self.daemon.stop()
        finally:
            self.world.stop()

    def crash_after_backups(self, router: str) -> tuple[str, str]:
        """Wait for every router's backup, then crash `router`: (its instance, its private IP)."""
        self.wait_backups()
        old = self.world.router_instance(router)
        self.world.fault(router, "crash")
        return old, self.world.topology.router(router).private_ip

    # ------------------------------------------------------------ watching

    def elapsed(self) -> float:
        return time.monotonic() - self._started

    @staticmethod
    def pause(seconds: float) -> None:
        time.sleep(seconds)

    def logs(self) -> list[dict[str, Any]]:
        assert self.daemon is not None
        return self._old_logs + self.daemon.lines()

    def reasons(self) -> list[str]:
        return [str(e["reason"]) for e in self.logs() if e.get("event") == "cycle"]

    def wait_reason(
        self, predicate: Callable[[str], bool], *, timeout: float = 90.0, after: bool = False
    ) -> str:
        """Wait for a cycle reason matching `predicate` (with `after`: a new one from now on)."""
        start = len(self.reasons()) if after else 0

        def found() -> str | None:
            assert self.daemon is not None and self.daemon.proc.poll() is None, self.tail()
            return next((r for r in self.reasons()[start:] if predicate(r)), None)

        try:
            return str(wait_for("a matching cycle reason", found, timeout=timeout))
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last reasons: {self.reasons()[-5:]}") from None

    def wait_cycles(self, n: int) -> None:
        target = len(self.reasons()) + n
        wait_for(f"{n} more cycles", lambda: len(self.reasons()) >= target, timeout=30 + 3 * n)

    def wait_raw_failed(self, router: str) -> None:
        """A new cycle in which `router` is failing (before or after the hysteresis)."""
        self.wait_reason(
            lambda r: (
                f"{router} bgp-ipsec-down for" in r
                or (router in r and "failing" in r and "cycles" in r)
            ),
            after=True,
            timeout=60,
        )

    def wait_backups(self) -> None:
        def all_backed_up() -> bool:
            root = self.state_dir / "backups"
            return root.exists() and len([d for d in root.iterdir() if any(d.glob("*.boot"))]) == 6

        wait_for("a backup of every router", all_backed_up, timeout=60)
        self.wait_cycles(1)  # the daemon has seen them too

    def heal_record(self, router: str) -> dict[str, Any] | None:
        heals = self.state_dir / "heals"
        records = (
            [json.loads(p.read_text())["data"] for p in sorted(heals.glob("*.json"))]
            if heals.exists()
            else []
        )
        mine = [r for r in records if r["router"] == router and r["action"] == "replace"]
        return max(mine, key=lambda r: r["started_at"]) if mine else None

    def wait_heal_finished(self, router: str, timeout: float = 150.0) -> dict[str, Any]:
        def finished() -> dict[str, Any] | None:
            record = self.heal_record(router)
            return record if record is not None and record["status"] != "running" else None

        try:
            return dict(wait_for(f"{router}'s heal to finish", finished, timeout=timeout))
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {self.heal_record(router)}; {self.tail()}") from None

    def wait_heal_done(self, router: str, timeout: float = 150.0) -> dict[str, Any]:
        record = self.wait_heal_finished(router, timeout)
        assert record["status"] == "done", record
        return record

    def metric(self, series: str) -> float:
        assert self.daemon is not None
        if self._port is None:
            self._port = self.daemon.port()
        url = f"http://127.0.0.1:{self._port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as resp:
            text = resp.read().decode()
        name, _, labels = series.partition("{")
        wanted = set(re.findall(r'(\w+)="([^"]*)"', labels))
        for line in text.splitlines():
            if not line.startswith(name + "{") and not line.startswith(name + " "):
                continue
            head, _, value = line.rpartition(" ")
            if wanted <= set(re.findall(r'(\w+)="([^"]*)"', head)):
                return float(value)
        return float("nan")

    def tail(self) -> str:
        assert self.daemon is not None
        return "\n".join(self.daemon.log_path.read_text().splitlines()[-15:])


def audit_entries(s: Scenario) -> list[dict[str, Any]]:
    path = s.state_dir / "audit.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
