"""The post-config boot scripts of a simulated VyOS, run as VyOS runs them.

vyos-1x `src/init/vyos-router` (`run_postconfig_scripts`): after the config is loaded,
`/config/scripts/vyatta-postconfig-bootup.script` and then `vyos-postconfig-bootup.script`
run if they are executable; their output reaches the console (`vyos-router.service`:
`StandardOutput=journal+console`). sshd's host keys exist by then (`service_ssh.py` makes
them during the config load).

The scripts run with the host's real /bin/sh and tools (ssh-keygen prints its real format);
only the router's own paths are mapped into the router's directory, so a script reads the
router's host keys and writes the router's files. This runs user-data content as the lab's
user: the lab is for loopback test worlds on a developer machine, never a shared host.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from pathlib import Path

SCRIPTS = ("vyatta-postconfig-bootup.script", "vyos-postconfig-bootup.script")
SCRIPT_TIMEOUT = 20.0
# Absolute router paths a boot script may use; each maps into the router's directory.
_ROUTER_PATH = re.compile(
    r"(?<![\w./-])(/opt/vyatta/etc/config|/config|/etc/ssh|/home/vyos|/tmp|/dev/console)"
    r"(?=[/\s\"';)|&>]|$)"
)


def router_path(root: Path, path: str) -> Path:
    """Where the router path `path` lives in the router's directory."""
    if path.startswith("/opt/vyatta/etc/config"):
        path = "/config" + path[len("/opt/vyatta/etc/config") :]
    return root / path.lstrip("/")


def _mapped(script: str, root: Path) -> str:
    return _ROUTER_PATH.sub(lambda m: str(router_path(root, m.group(1))), script)


def _prepare(root: Path, script: Path) -> tuple[Path, Path]:
    """The mapped copy of `script` to run, and the router's /dev/console file (emptied)."""
    text = _mapped(script.read_text(encoding="utf-8", errors="surrogateescape"), root)
    runnable = root / "tmp" / f".boot-{script.name}"
    runnable.parent.mkdir(parents=True, exist_ok=True)
    runnable.write_text(text, encoding="utf-8", errors="surrogateescape")
    console = router_path(root, "/dev/console")
    console.parent.mkdir(parents=True, exist_ok=True)
    console.write_bytes(b"")
    return runnable, console


def _finish(runnable: Path, console: Path, out: bytes) -> list[str]:
    runnable.unlink(missing_ok=True)
    return (out + console.read_bytes()).decode("utf-8", "replace").splitlines()


async def _run_one(root: Path, script: Path, limit: float) -> list[str]:
    runnable, console = _prepare(root, script)
    proc = await asyncio.create_subprocess_exec(
        "/bin/sh",
        str(runnable),
        cwd=str(root),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(root / "home/vyos")},
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), limit)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        out = f"{script.name}: killed after {limit:g} s\n".encode()
    return _finish(runnable, console, out)


def _executable_scripts(root: Path) -> list[Path]:
    found = [router_path(root, f"/config/scripts/{name}") for name in SCRIPTS]
    return [s for s in found if s.is_file() and os.access(s, os.X_OK)]


async def run_postconfig_scripts(root: Path, limit: float = SCRIPT_TIMEOUT) -> list[str]:
    """Run the executable post-config scripts in order; their console output lines."""
    lines: list[str] = []
    for script in _executable_scripts(root):
        lines += await _run_one(root, script, limit)
    return lines
