"""An active/standby pair: one emulated world with the DynamoDB lock table, two `vpnwatch
run` processes ("host-a", "host-b") with their own state directories, the lease and all
safety state shared in the table. Real processes, real clocks, a 3 s lease."""

from __future__ import annotations

import json
import os
import re
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.e2e.test_daemon_process import Daemon, wait_for
from vpnwatch.lab.world import LabWorld

LEASE = 3.0
HOSTS = ("host-a", "host-b")

__all__ = ["HOSTS", "LEASE", "Pair", "wait_for"]


class Pair:
    def __init__(
        self,
        workdir: Path,
        *,
        interval: float = 2.0,
        lease: float = LEASE,
        release_delay: float = 2.0,
        ssh: bool = True,
        dry_run: bool = False,
        env: dict[str, str] | None = None,
    ) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.world = LabWorld(
            workdir / "world",
            detection_delay=1.0,
            release_delay=release_delay,
            boot_delay=0.5,
            console_delay=4.0,  # the new router's host keys show late: kills land before
            heal_dry_run=dry_run,
            health_interval=interval,
            lock="dynamodb",
            lease_seconds=lease,
        )
        self.lease_seconds = lease
        base = {k: v for k, v in os.environ.items() if not k.startswith("VPNWATCH_")}
        base.update(
            VPNWATCH_METRICS__LISTEN="127.0.0.1:0",
            VPNWATCH_LOGGING__FORMAT="json",
            VPNWATCH_LOCK__CONNECT_TIMEOUT="0.25",
            VPNWATCH_LOCK__READ_TIMEOUT="0.5",
            VPNWATCH_HEALTH__FAILURES="2",
            VPNWATCH_HEALTH__MIN_FAILED_SECONDS="2",
            VPNWATCH_HEAL__VERIFY_WINDOWS=json.dumps(
                dict.fromkeys(("reset_bgp", "restart_vpn", "reboot", "replace"), 8)
            ),
            VPNWATCH_HEAL__COOLDOWN="5",
            VPNWATCH_HEAL__DRY_RUN="true" if dry_run else "false",
        )
        if lease < 5.0:
            # A 3 s lease: renew every 1 s, margin 0.3 s; every call with its retries must
            # fit in the 1.7 s left (config check), so the AWS timeouts are tight.
            base.update(
                VPNWATCH_AWS__CONNECT_TIMEOUT="0.25",
                VPNWATCH_AWS__READ_TIMEOUT="0.5",
                VPNWATCH_AWS__RETRY_BACKOFF="0.2",
            )
        if interval < 2.0:  # a scaled-down interval: one attempt per call, tighter still
            base.update(
                VPNWATCH_AWS__MAX_ATTEMPTS="1",
                VPNWATCH_AWS__CONNECT_TIMEOUT="0.2",
                VPNWATCH_AWS__READ_TIMEOUT=str(max(0.3, interval - 0.2)),
                VPNWATCH_SSH__CONNECT_TIMEOUT=str(interval * 0.4),
                VPNWATCH_SSH__COMMAND_TIMEOUT=str(interval * 0.5),
            )
        if not ssh:
            base["VPNWATCH_SSH__ENABLED"] = "false"
        base.update(env or {})
        self.base_env = base
        self.daemons: dict[str, Daemon] = {}
        self._old_lines: dict[str, list[dict[str, Any]]] = {h: [] for h in HOSTS}
        self._ports: dict[str, int] = {}
        self._runs = 0

    # ------------------------------------------------------------ lifecycle

    def start(self, *, routers_ready: bool = True) -> None:
        self.world.start()
        if routers_ready and self.world.has_routers:
            assert self.world.wait_router("spoke1-r1", 30, established=True)
        self.config = self.world.write_config()
        for host in HOSTS:
            self.start_daemon(host)

    def start_daemon(self, host: str) -> Daemon:
        """(Re)start `host`'s daemon: a process of its own, the host's own state directory."""
        if host in self.daemons:
            self._old_lines[host] += self.daemons[host].lines()
        run = self.workdir / f"{host}-{self._runs}"
        self._runs += 1
        run.mkdir()
        config = run / "vpnwatch.yaml"
        config.write_text(self.config.read_text())
        env = dict(
            self.base_env,
            VPNWATCH_STATE_DIR=str(self.workdir / f"{host}-state"),
            VPNWATCH_LOCK__HOLDER=host,
        )
        self.daemons[host] = Daemon(config, env)
        self._ports.pop(host, None)
        return self.daemons[host]

    def kill(self, host: str) -> None:
        proc = self.daemons[host].proc
        proc.send_signal(signal.SIGKILL)  # no chance to hand the lease over
        proc.wait(timeout=10)

    def stop(self) -> None:
        try:
            for daemon in self.daemons.values():
                if daemon.proc.poll() is None:
                    os.kill(daemon.proc.pid, signal.SIGCONT)  # a stopped one cannot stop
                daemon.stop()
        finally:
            self.world.stop()

    # ------------------------------------------------------------ watching

    def lines(self, host: str) -> list[dict[str, Any]]:
        return self._old_lines[host] + self.daemons[host].lines()

    def reasons(self, host: str) -> list[str]:
        return [str(e["reason"]) for e in self.lines(host) if e.get("event") == "cycle"]

    def metrics(self, host: str) -> dict[str, float]:
        """Every unlabelled sample of `host`'s /metrics (empty if it does not answer)."""
        if host not in self._ports:
            self._ports[host] = self.daemons[host].port()
        try:
            url = f"http://127.0.0.1:{self._ports[host]}/metrics"
            with urllib.request.urlopen(url, timeout=5) as resp:
                text = resp.read().decode()
        except OSError:
            return {}
        return {
            m.group(1): float(m.group(2))
            for m in re.finditer(r"^(vpnwatch_[a-z_]+) ([0-9.e+-]+)$", text, re.M)
        }

    def ready(self, host: str) -> int:
        """HTTP status of `host`'s /readyz (a standby must be ready: a PDB counts it)."""
        port = self._ports.setdefault(host, self.daemons[host].port())
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as resp:
                return int(resp.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)

    def leaders(self) -> list[str]:
        return [h for h in HOSTS if self.alive(h) and self.metrics(h).get("vpnwatch_leader") == 1]

    def alive(self, host: str) -> bool:
        return host in self.daemons and self.daemons[host].proc.poll() is None

    def wait_leader(self, timeout: float = 60.0, *, other_than: str | None = None) -> str:
        def one() -> str | None:
            leaders = [h for h in self.leaders() if h != other_than]
            return leaders[0] if len(leaders) == 1 else None

        return str(wait_for("one leader", one, timeout=timeout))

    def lease(self) -> dict[str, Any]:
        (item,) = self.world.lock_items("lease")
        return item

    def audit(self) -> list[dict[str, Any]]:
        return [json.loads(i["body"]) for i in self.world.lock_items("audit")]

    def heal_record(self, router: str) -> dict[str, Any] | None:
        records = [
            json.loads(i["body"])["data"]
            for i in self.world.lock_items("state")
            if str(i["sk"]).startswith("heal#")
        ]
        mine = [r for r in records if r["router"] == router and r["action"] == "replace"]
        return max(mine, key=lambda r: r["started_at"]) if mine else None

    def tail(self, host: str) -> str:
        return "\n".join(self.daemons[host].log_path.read_text().splitlines()[-20:])

    @staticmethod
    def pause(seconds: float) -> None:
        time.sleep(seconds)
