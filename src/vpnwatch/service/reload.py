"""SIGHUP: read the config file again, and use it from the next cycle if it is valid and
changes only what can change while running.

Reloadable: health, heal (dry_run, paused, pause_file, strategy, ladder, verify windows,
cooldown, concurrency, breaker limits, timeouts), sites, managed_tag and logging: they are
read afresh every cycle or when a heal starts. A heal already running keeps the mode and
the settings it started with. Everything that built a client, a socket or the state store
needs a restart: aws, ssh, backup, lock, metrics, state_dir, heal.enabled, heal.audit_file.
An invalid file, or a change to any of those, leaves the daemon on the config it has, and the
log line says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vpnwatch.config import Config
from vpnwatch.configfile import load_config
from vpnwatch.errors import ConfigError
from vpnwatch.startup_checks import machine_problems

RESTART_ONLY = (
    "aws",
    "ssh",
    "backup",
    "lock",
    "metrics",
    "state_dir",
    "heal.enabled",
    "heal.audit_file",
)


def _flat(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, Mapping) and value:
            out.update(_flat(value, path))
        else:
            out[path] = value
    return out


def changed_keys(old: Config, new: Config) -> list[str]:
    before, after = _flat(old.model_dump(mode="json")), _flat(new.model_dump(mode="json"))
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def needs_restart(keys: list[str]) -> list[str]:
    return [k for k in keys if any(k == p or k.startswith(p + ".") for p in RESTART_ONLY)]


def reloaded(path: Path, current: Config) -> tuple[Config | None, str]:
    """(the config to use from now on, or None to keep the current one; what to log)."""
    try:
        new = load_config(path)
    except ConfigError as exc:
        return None, "config reload refused, still running on the old config: " + "; ".join(
            exc.problems
        )
    problems = machine_problems(new, listen=False)
    if problems:
        return None, "config reload refused, still running on the old config: " + "; ".join(
            problems
        )
    keys = changed_keys(current, new)
    if not keys:
        return None, "config reloaded: nothing changed"
    restart = needs_restart(keys)
    if restart:
        return None, (
            "config reload refused, still running on the old config: these keys need a "
            f"restart: {', '.join(restart)}"
        )
    return new, f"config reloaded: {', '.join(keys)}"
