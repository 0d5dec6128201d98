"""`vpnwatch run` as a real process against the emulated AWS: metrics, notify, clean stop."""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from vpnwatch.lab.world import LabWorld

pytestmark = pytest.mark.e2e


def wait_for(what: str, probe, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


class Daemon:
    def __init__(self, config: Path, env: dict[str, str]) -> None:
        self.log_path = config.parent / "daemon.log"
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vpnwatch", "run", "--config", str(config)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )

    def lines(self) -> list[dict[str, object]]:
        out = []
        for line in self.log_path.read_text().splitlines():
            if line.startswith("{"):
                out.append(json.loads(line))
        return out

    def port(self) -> int:
        def find() -> int | None:
            for entry in self.lines():
                if entry.get("event") == "metrics listening":
                    return int(str(entry["listen"]).rsplit(":", 1)[1])
            assert self.proc.poll() is None, self.log_path.read_text()
            return None

        return int(wait_for("the metrics listener", find))

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self._log.close()


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    sock.settimeout(0.2)
    try:
        yield sock
    finally:
        sock.close()


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        return resp.read().decode()


def test_daemon_serves_metrics_notifies_systemd_and_stops_on_sigterm(
    lab_world: LabWorld, tmp_path: Path, daemon_env: dict[str, str], notify_socket: socket.socket
) -> None:
    config = lab_world.write_config()
    daemon_env["NOTIFY_SOCKET"] = str(tmp_path / "notify.sock")
    daemon = Daemon(config, daemon_env)
    conn = lab_world.topology.connections_of("hub-r2")[0]
    outside = conn.tunnels[0].outside_ip
    try:
        port = daemon.port()
        messages: list[str] = []

        def got(msg: str) -> bool:
            with contextlib.suppress(TimeoutError):
                messages.append(notify_socket.recv(256).decode())
            return msg in messages

        wait_for("READY=1", lambda: got("READY=1"))
        wait_for("WATCHDOG=1", lambda: got("WATCHDOG=1"))

        def tunnel_metrics() -> str | None:
            text = scrape(port)
            return text if "vpnwatch_tunnel_up{" in text else None

        text = wait_for("tunnel metrics", tunnel_metrics)
        assert len(re.findall(r"^vpnwatch_tunnel_up\{.*\} 1\.0$", text, re.M)) == 16
        if shutil.which("promtool"):
            check = subprocess.run(
                ["promtool", "check", "metrics"],
                input=text.encode(),
                capture_output=True,
                timeout=30,
            )
            assert check.returncode == 0, check.stdout + check.stderr

        # flip one tunnel down: the next cycle's metrics show it
        lab_world.aws.set_tunnel(conn.id, outside, "DOWN")
        series = (
            f'vpnwatch_tunnel_up{{router="hub-r2",tunnel_outside_ip="{outside}",'
            f'vpn_connection_id="{conn.id}"}} 0.0'
        )
        wait_for("the DOWN tunnel in metrics", lambda: series in scrape(port))
        reasons = [e["reason"] for e in daemon.lines() if e.get("event") == "cycle"]
        assert reasons[0] == "no action: 6/6 routers healthy"
        assert any(str(r).startswith("no action: hub-r2 degraded") for r in reasons)
    finally:
        code = daemon.stop()
        lab_world.aws.set_tunnel(conn.id, outside, "UP")
    assert code == 0, daemon.log_path.read_text()
    assert daemon.lines()[-1]["event"] == "stopping"
    assert "STOPPING=1" in list(iter_notify(notify_socket))


def iter_notify(sock: socket.socket) -> Iterator[str]:
    while True:
        try:
            yield sock.recv(256).decode()
        except (TimeoutError, OSError):
            return


def test_check_cli_against_the_world(lab_world: LabWorld, daemon_env: dict[str, str]) -> None:
    config = lab_world.write_config()
    result = subprocess.run(
        [sys.executable, "-m", "vpnwatch", "check", "--config", str(config), "--json"],
        capture_output=True,
        text=True,
        env=daemon_env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert len(data["routers"]) == 6 and {r["verdict"] for r in data["routers"]} == {"healthy"}
    assert len(data["tunnels"]) == 16 and {t["status"] for t in data["tunnels"]} == {"UP"}
    assert {"name", "site", "instance_id", "verdict"} <= set(data["routers"][0])
    assert {"vpn_connection_id", "outside_ip", "router", "status", "accepted_routes"} <= set(
        data["tunnels"][0]
    )
    table = subprocess.run(
        [sys.executable, "-m", "vpnwatch", "check", "--config", str(config)],
        capture_output=True,
        text=True,
        env=daemon_env,
        timeout=60,
    )
    assert table.returncode == 0 and "ROUTER" in table.stdout and "hub-r1" in table.stdout


def test_check_exit_codes_for_a_bad_config(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("sites: nope\n")
    result = subprocess.run(
        [sys.executable, "-m", "vpnwatch", "check", "--config", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "sites" in result.stderr
