"""Hostile input against a real daemon process (issue 9, items 1, 3, 4, 8).

- Hostile routers: spoke1-r1 answers `show configuration` nested 10,000 levels deep, and
  spoke1-r2's `show vpn ike sa` starts with `secret <its PSK>`. The loop keeps cycling,
  /healthz answers, the other routers' backups succeed, and no PSK appears in the daemon's
  log or in `vpnwatch check --json`.
- A scanner on the metrics port: garbage, hundreds of slowloris connections and a 20 MB
  POST, while /metrics keeps answering; bad requests are logged one line each and rate
  limited, and nothing but JSON log lines (no traceback) reaches the log.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_daemon_process import wait_for
from tests.scenarios.harness import Scenario

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

DEEP, SECRET = "spoke1-r1", "spoke1-r2"


@pytest.fixture
def hostile(tmp_path: Path) -> Iterator[Scenario]:
    """A world whose spoke1-r1/-r2 answer hostilely from the start, and a dry-run daemon."""
    s = Scenario(tmp_path / "s", dry_run=True)
    try:
        s.world.start()
        assert s.world.wait_router(SECRET, 30, established=True)
        s.world.fault(DEEP, "deep-config")
        s.world.fault(SECRET, "secret-output")
        s.config = s.world.write_config()
        s.restart_daemon()
        yield s
    finally:
        s.stop()


def get(port: int, path: str, timeout: float = 10) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def all_psks(s: Scenario) -> set[str]:
    psks = {t.psk for c in s.world.topology.connections for t in c.tunnels}
    assert len(psks) >= 8 and all(len(p) >= 8 for p in psks)
    return psks


def test_hostile_routers_against_a_real_daemon(hostile: Scenario) -> None:
    s = hostile
    assert s.daemon is not None
    port = s.daemon.port()

    def others_backed_up() -> bool:
        root = s.state_dir / "backups"
        done = {d.name for d in root.iterdir() if any(d.glob("*.boot"))} if root.exists() else set()
        return len(done) == 5 and DEEP not in done

    wait_for("the five other routers' backups", others_backed_up, timeout=90)
    failed = [e for e in s.logs() if e.get("event") == "backup.failed"]
    assert any(
        e["router"] == DEEP and "line 65: configuration nested deeper than 64" in str(e["error"])
        for e in failed
    ), failed
    reason = s.wait_reason(lambda r: f"{SECRET}" in r and "show vpn ike sa: line 1" in r)
    assert "unexpected line" in reason
    before = len(s.reasons())
    s.wait_cycles(3)  # the loop keeps cycling
    assert len(s.reasons()) >= before + 3
    assert get(port, "/healthz")[0] == 200

    check = subprocess.run(
        [sys.executable, "-m", "vpnwatch", "check", "--config", str(s.config), "--json"],
        capture_output=True, text=True, env=s.env, timeout=120,
    )  # fmt: skip
    data = json.loads(check.stdout)
    mine = next(r for r in data["routers"] if r["name"] == SECRET)
    assert "show vpn ike sa: line 1" in mine["reason"], mine
    log_text = s.daemon.log_path.read_text()
    for psk in all_psks(s):
        assert psk not in log_text
        assert psk not in check.stdout and psk not in check.stderr
    assert "Traceback" not in log_text and "Traceback" not in check.stderr


class Slowloris:
    """Many connections that send a request head one byte at a time, never finishing it."""

    def __init__(self, port: int, count: int) -> None:
        self.port, self.count = port, count
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.opened = 0

    def _run(self) -> None:
        socks: list[socket.socket] = []
        try:
            while not self.stop.is_set():
                while len(socks) < self.count and not self.stop.is_set():
                    with contextlib.suppress(OSError):
                        sock = socket.create_connection(("127.0.0.1", self.port), timeout=2)
                        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-a: ")
                        socks.append(sock)
                        self.opened += 1
                for sock in list(socks):  # one more byte each; a closed one is replaced
                    try:
                        sock.sendall(b"a")
                    except OSError:
                        socks.remove(sock)
                        sock.close()
                time.sleep(0.2)
        finally:
            for sock in socks:
                sock.close()


def post_20_mb(port: int) -> bytes:
    size = 20 * 1024 * 1024
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(
            f"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n".encode()
        )
        with contextlib.suppress(OSError):  # the server may stop reading once it answered
            chunk = b"x" * (1 << 20)
            for _ in range(20):
                sock.sendall(chunk)
        with contextlib.suppress(OSError):  # it may have answered and closed already
            sock.shutdown(socket.SHUT_WR)
        answer = b""
        while data := sock.recv(65536):
            answer += data
        return answer


def garbage(port: int) -> None:
    for payload in (b"garbage\r\n\r\n", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", b"G"):
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
            sock.settimeout(10)
            while sock.recv(4096):
                pass


def test_a_scanner_on_the_metrics_port(tmp_path: Path) -> None:
    s = Scenario(tmp_path / "s", dry_run=True)
    try:
        s.start()
        assert s.daemon is not None
        port = s.daemon.port()
        wait_for("a first cycle", lambda: s.reasons(), timeout=60)
        loris = Slowloris(port, 300)
        loris.thread.start()
        try:
            wait_for("300 slowloris connections", lambda: loris.opened >= 300, timeout=60)
            for _ in range(30):
                garbage(port)
            answer = post_20_mb(port)
            assert answer.startswith(b"HTTP/1.1 405 "), answer[:100]
            for _ in range(10):  # /metrics keeps answering through all of it
                status, body = get(port, "/metrics")
                assert status == 200 and b"vpnwatch_poll_duration_seconds" in body
                assert get(port, "/healthz")[0] == 200
        finally:
            loris.stop.set()
            loris.thread.join(10)
        s.wait_cycles(2)
        lines = s.daemon.log_path.read_text().splitlines()
        assert all(line.startswith("{") for line in lines), [
            ln for ln in lines if not ln.startswith("{")
        ][:5]
        http = [json.loads(ln) for ln in lines if '"event": "http.' in ln]
        assert 1 <= len(http) <= 25, len(http)  # hundreds of bad requests, a few lines
        assert {e["event"] for e in http} <= {"http.bad_request", "http.bad_requests_not_logged"}
    finally:
        s.stop()
