"""`vpnwatch demo`: the emulated world and the daemon together, shown live.

The daemon runs as its own process (`vpnwatch run`) against the world, exactly as in
production; the demo reads its JSON log lines and prints what it sees. After a while it
crashes one router and prints the time from the fault to the router being healthy again.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from vpnwatch.lab.world import LabWorld

_STEP_EVENTS = ("heal started", "heal failed", "resuming heal", "circuit breaker opened")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vpnwatch demo",
        description="Run the daemon against the emulated world (moto + simulated VyOS), live.",
    )
    p.add_argument("--state-dir", help="where the world and the daemon keep state (default: temp)")
    p.add_argument("--router", default="spoke1-r1", help="router to crash (default: spoke1-r1)")
    p.add_argument("--crash-after", type=float, default=20.0, help="seconds before the crash")
    p.add_argument("--no-fault", action="store_true", help="only watch; inject nothing")
    p.add_argument("--dry-run", action="store_true", help="heal in dry-run (would have ...)")
    p.add_argument("--duration", type=float, default=0.0, help="stop after S seconds (0: Ctrl-C)")
    p.add_argument(
        "--exit-after-recovery", action="store_true", help="stop once the router has recovered"
    )
    return p


def _show(entry: dict[str, Any], out: IO[str]) -> None:
    event = str(entry.get("event", ""))
    stamp = time.strftime("%H:%M:%S")
    if event == "cycle":
        print(f"{stamp}  {entry.get('reason')}", file=out, flush=True)
    elif event == "heal step":
        print(f"{stamp}  >> step {entry.get('step')} ({entry.get('router')})", file=out, flush=True)
    elif event in _STEP_EVENTS or event.startswith("would have") or "step" in entry:
        details = " ".join(
            f"{k}={entry[k]}"
            for k in ("router", "action", "step", "heal_id", "error")
            if k in entry
        )
        print(f"{stamp}  >> {event} {details}", file=out, flush=True)
    elif entry.get("level") in ("warning", "error"):
        print(f"{stamp}  !! {event} {entry.get('error', '')}", file=out, flush=True)


class _Follower(threading.Thread):
    """Reads the daemon's log lines, prints them, and remembers the router's verdicts."""

    def __init__(self, stream: IO[str], out: IO[str]) -> None:
        super().__init__(daemon=True, name="demo-follower")
        self._stream = stream
        self._out = out
        self.last_reason = ""
        self.lines = 0

    def run(self) -> None:
        for line in self._stream:
            self.lines += 1
            try:
                entry = json.loads(line)
            except ValueError:
                print(line.rstrip(), file=self._out, flush=True)
                continue
            if entry.get("event") == "cycle":
                self.last_reason = str(entry.get("reason", ""))
            _show(entry, self._out)


def demo_main(argv: Sequence[str], out: IO[str] = sys.stdout) -> int:
    args = _parser().parse_args(list(argv))
    with contextlib.ExitStack() as stack:
        state_dir = (
            Path(args.state_dir)
            if args.state_dir
            else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="vpnwatch-demo-")))
        )
        world = stack.enter_context(
            LabWorld(state_dir, publish_runtime=True, heal_dry_run=args.dry_run)
        )
        config = world.write_config()
        print(world.ready_line(), file=out, flush=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("VPNWATCH_")}
        env["VPNWATCH_LOGGING__FORMAT"] = "json"
        env["VPNWATCH_METRICS__LISTEN"] = "127.0.0.1:0"
        # The demo's crash is a dead instance: a reboot would not bring it back, so go
        # straight to the replacement (the runbook) for unreachable routers.
        env["VPNWATCH_HEAL__LADDER"] = json.dumps(
            {"unreachable": ["replace"], "bgp-ipsec-down": ["reset-bgp", "restart-vpn", "replace"]}
        )
        daemon = subprocess.Popen(
            [sys.executable, "-m", "vpnwatch", "run", "--config", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        stack.callback(_stop, daemon)
        assert daemon.stdout is not None
        follower = _Follower(daemon.stdout, out)
        follower.start()
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        started = time.monotonic()
        crashed_at: float | None = None
        detected_at: float | None = None
        recovered = False
        while not stop.wait(0.5):
            now = time.monotonic()
            if daemon.poll() is not None:
                print("demo: the daemon exited", file=out, flush=True)
                return 1
            if not args.no_fault and crashed_at is None and now - started >= args.crash_after:
                print(f"demo: crashing {args.router} now", file=out, flush=True)
                world.fault(args.router, "crash")
                crashed_at = now
            healthy = "6/6 routers healthy" in follower.last_reason
            if crashed_at is not None and detected_at is None and not healthy:
                detected_at = now
                print(f"demo: detected after {now - crashed_at:.1f} s", file=out, flush=True)
            if detected_at is not None and crashed_at is not None and not recovered and healthy:
                recovered = True
                print(
                    f"demo: {args.router} recovered {now - crashed_at:.1f} s after the crash "
                    "(fault → detection → heal → verified)",
                    file=out,
                    flush=True,
                )
                if args.exit_after_recovery:
                    break
            if args.duration and now - started >= args.duration:
                break
        return 0 if (args.no_fault or recovered or crashed_at is None) else 1
    return 0


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
