"""The daemon as a process and its safety state: corrupt state means observe-only and a named
file; SIGHUP reloads or keeps the old config; a dry-run start leaves the live breaker alone;
operator requests reach the running daemon (issues 9.2, 9.5, 9.6, 13)."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.audit import audit_lines
from tests.e2e.test_daemon_process import Daemon, scrape, wait_for
from vpnwatch.core.memory import GuardMemory, Memory
from vpnwatch.lab.world import LabWorld
from vpnwatch.statestore.files import FileStateStore
from vpnwatch.statestore.lease import FileLease
from vpnwatch.vocabulary import Mode

pytestmark = pytest.mark.e2e

ROUTER = "spoke1-r1"
BREAKER = "spoke1-r1 was replaced 2 times in 24 h"


@pytest.fixture(autouse=True)
def _healthy_world(lab_world: LabWorld) -> Iterator[None]:
    yield
    lab_world.fault(ROUTER, "all", clear=True)  # the world is shared by the module's tests


@pytest.fixture
def env(daemon_env: dict[str, str]) -> dict[str, str]:
    return {**daemon_env, "VPNWATCH_BACKUP__ENABLED": "false"}


@contextlib.contextmanager
def running(config: Path, env: dict[str, str]) -> Iterator[Daemon]:
    """A daemon process that must stop cleanly (exit 0) and never print a traceback."""
    daemon = Daemon(config, env)
    try:
        yield daemon
    finally:
        code = daemon.stop()
    assert code == 0, daemon.log_path.read_text()[-3000:]
    text = daemon.log_path.read_text()
    assert "Traceback" not in text
    assert all(line.startswith("{") for line in text.splitlines() if line.strip()), text[-2000:]


def vpnwatch(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(
        [sys.executable, "-m", "vpnwatch", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert "Traceback" not in out.stdout + out.stderr, out.stderr
    return out


def reasons(daemon: Daemon) -> list[str]:
    return [str(e["reason"]) for e in daemon.lines() if e.get("event") == "cycle"]


def wait_reason(daemon: Daemon, predicate, after: int = 0, timeout: float = 60) -> str:  # type: ignore[no-untyped-def]
    def found() -> str | None:
        assert daemon.proc.poll() is None, daemon.log_path.read_text()[-3000:]
        return next((r for r in reasons(daemon)[after:] if predicate(r)), None)

    return str(wait_for("a matching reason", found, timeout=timeout))


def open_live_breaker(state_dir: Path) -> bytes:
    """What a live daemon left: its breaker open after two replacements of one router."""
    lease = FileLease(state_dir, holder="an earlier live daemon")
    fence = lease.acquire()
    assert fence is not None
    guards = GuardMemory(
        breaker_open=True, breaker_reason=BREAKER, replacements=((ROUTER, 1.0), (ROUTER, 2.0))
    )
    FileStateStore(state_dir, lease=lease).save_memory(
        Mode.LIVE, Memory(guards=guards), fence=fence
    )
    lease.release()
    return (state_dir / "guards.live.json").read_bytes()


def test_corrupt_state_is_observe_only_named_and_repaired_with_a_command(
    lab_world: LabWorld, tmp_path: Path, env: dict[str, str]
) -> None:
    state = tmp_path / "state"
    (state / "heals").mkdir(parents=True)
    (state / "guards.live.json").write_text("[]")
    (state / "hysteresis.json").write_text('{"version": 9, "data": {}}')
    (state / "heals" / "spoke1-r1-replace-1.json").write_text("{")
    (state / "fleet.json").mkdir()
    env.update(VPNWATCH_HEAL__DRY_RUN="false", VPNWATCH_HEAL__LADDER='{"unreachable": ["reboot"]}')
    config = lab_world.write_config()
    with running(config, env) as daemon:
        port = daemon.port()
        first = wait_reason(daemon, lambda r: "observe only" in r)
        assert first.endswith(
            "; observe only: guards.live.json: not a JSON object (a JSON list); +3 more"
            " (see `vpnwatch state check`)"
        )
        text = scrape(port)
        for name in (
            "guards.live.json",
            "hysteresis.json",
            "fleet.json",
            "heals/spoke1-r1-replace-1.json",
        ):
            assert f'vpnwatch_state_error{{file="{name}"}} 1.0' in text
        lab_world.fault(ROUTER, "crash")
        seen = len(reasons(daemon))
        wait_reason(daemon, lambda r: f"{ROUTER} failed" in r and "observe only" in r, seen)
        assert audit_lines(state / "audit.jsonl") == []  # it saw the failure and did nothing
        check = vpnwatch("state", "check", "--config", str(config), env=env)
        assert check.returncode == 1
        unknown = "schema version 9 is unknown (this vpnwatch reads version 1)"
        assert f"hysteresis.json: UNREADABLE: {unknown}" in check.stdout
        assert "fleet.json: UNREADABLE: unreadable: a directory, not a file" in check.stdout
        assert "heals/spoke1-r1-replace-1.json: UNREADABLE: not JSON at line 1" in check.stdout
        refused = vpnwatch(
            "state", "reset", "--config", str(config), "--file", "control.json", env=env
        )
        assert refused.returncode == 2 and "no state document 'control.json'" in refused.stderr
        for name in (
            "guards.live.json",
            "hysteresis.json",
            "fleet.json",
            "heals/spoke1-r1-replace-1.json",
        ):
            out = vpnwatch("state", "reset", "--config", str(config), "--file", name, env=env)
            assert out.returncode == 0 and out.stdout.startswith(f"moved {name} to "), out.stderr
        assert list(state.glob("guards.live.json.corrupt-*"))  # moved aside, never deleted
        seen = len(reasons(daemon))
        wait_reason(daemon, lambda r: r.startswith(f"rebooting {ROUTER}"), seen)
        assert "vpnwatch_state_error{" not in scrape(port)
        assert vpnwatch("state", "check", "--config", str(config), env=env).returncode == 0


def test_sighup_reloads_a_valid_config_and_sigusr1_pauses(
    lab_world: LabWorld, tmp_path: Path, env: dict[str, str]
) -> None:
    config = tmp_path / "vpnwatch.yaml"
    good = yaml.safe_load(lab_world.write_config().read_text())
    config.write_text(yaml.safe_dump(good))
    with running(config, env) as daemon:

        def logged(event: str) -> dict[str, object]:
            return dict(
                wait_for(
                    event,
                    lambda: next(
                        (e for e in daemon.lines() if str(e.get("event", "")).startswith(event)),
                        None,
                    ),
                )
            )

        port = daemon.port()
        wait_reason(daemon, lambda r: r.startswith("no action: 6/6"))
        assert "vpnwatch_dry_run 1.0" in scrape(port)
        config.write_text("health: {interval: [\n")
        daemon.proc.send_signal(signal.SIGHUP)
        line = logged("config reload refused, still running on the old config:")
        assert "vpnwatch.yaml: not valid YAML at line 2" in str(line["event"])
        changed = {**good, "aws": {**good["aws"], "max_concurrency": 3}}
        config.write_text(yaml.safe_dump(changed))
        daemon.proc.send_signal(signal.SIGHUP)
        refused = "config reload refused, still running on the old config: these keys need"
        logged(f"{refused} a restart: aws.max_concurrency")
        live = {
            **good,
            "heal": {**good["heal"], "dry_run": False},
            "health": {**good["health"], "failures": 4},
        }
        config.write_text(yaml.safe_dump(live))
        daemon.proc.send_signal(signal.SIGHUP)
        logged("config reloaded: heal.dry_run, health.failures")
        wait_for("live mode in metrics", lambda: "vpnwatch_dry_run 0.0" in scrape(port))
        seen = len(reasons(daemon))
        wait_reason(daemon, lambda r: r.startswith("no action: 6/6"), seen)  # still cycling
        daemon.proc.send_signal(signal.SIGUSR1)  # the operator's pause, as a request
        wait_reason(daemon, lambda r: r.endswith("done: actions paused"), seen)
        wait_for("paused in metrics", lambda: "vpnwatch_paused 1.0" in scrape(port))
        daemon.proc.send_signal(signal.SIGUSR1)
        wait_reason(daemon, lambda r: r.endswith("done: actions resumed"), seen)


def test_a_dry_run_start_never_closes_the_live_breaker(
    lab_world: LabWorld, tmp_path: Path, env: dict[str, str]
) -> None:
    state = tmp_path / "state"
    before = open_live_breaker(state)
    config = lab_world.write_config()
    with running(config, {**env, "VPNWATCH_HEAL__DRY_RUN": "true"}) as dry:
        reason = wait_reason(dry, lambda r: r.startswith("no action: 6/6"))
        assert "circuit breaker" not in reason  # the dry-run guards are its own
        wait_for("a few cycles", lambda: len(reasons(dry)) >= 3)
    assert (state / "guards.live.json").read_bytes() == before
    assert (state / "guards.dry-run.json").exists()
    with running(config, {**env, "VPNWATCH_HEAL__DRY_RUN": "false"}) as live:
        assert wait_reason(live, lambda r: "circuit breaker" in r).endswith(
            f"circuit breaker open ({BREAKER}): no actions until `vpnwatch heal --reset-breaker`"
        )


def test_operator_requests_reach_the_running_daemon_and_the_cli_acts_alone_otherwise(
    lab_world: LabWorld, tmp_path: Path, env: dict[str, str]
) -> None:
    state = tmp_path / "state"
    open_live_breaker(state)
    env["VPNWATCH_HEAL__DRY_RUN"] = "false"
    config = lab_world.write_config()
    # no daemon: the CLI takes the lease and closes the breaker itself
    out = vpnwatch("heal", "--config", str(config), "--reset-breaker", env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith(
        f"reset-breaker: done: live circuit breaker closed (was: {BREAKER})"
    )
    open_live_breaker(state)
    with running(config, env) as daemon:
        wait_reason(daemon, lambda r: "circuit breaker open" in r)
        out = vpnwatch("heal", "--config", str(config), "--reset-breaker", env=env)
        assert out.returncode == 0, out.stderr
        assert "leads: asking it" in out.stdout
        assert f"done: live circuit breaker closed (was: {BREAKER})" in out.stdout
        healed = vpnwatch(
            "heal", "--config", str(config), "--router", ROUTER, "--action", "reset-bgp", "--yes",
            env=env,
        )  # fmt: skip
        assert healed.returncode == 0, healed.stdout + healed.stderr
        assert "it will carry this out" in healed.stdout and ": done" in healed.stdout
        listed = vpnwatch("requests", "--config", str(config), "--json", env=env)
        requests = json.loads(listed.stdout)["requests"]
        assert [(r["kind"], r["status"]) for r in requests] == [
            ("reset-breaker", "done"),
            ("reset-breaker", "done"),
            ("heal", "done"),
        ]
        entries = audit_lines(state / "audit.jsonl")
        assert [e["kind"] for e in entries if "request" in e] == [
            "reset-breaker",
            "reset-breaker",
            "heal",
        ]
        assert any(
            e.get("action") == "reset-bgp" and e["result"].startswith("done:") for e in entries
        )
        assert any(
            r.startswith(f"resetting BGP on {ROUTER}: operator request") for r in reasons(daemon)
        )
