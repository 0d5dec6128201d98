"""What every command does the same way: load the config, or say why not (exit 2)."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence

from vpnwatch.config import Config
from vpnwatch.configfile import load_config
from vpnwatch.errors import ConfigError
from vpnwatch.startup_checks import machine_problems

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2


def config_problems(path: str, problems: Sequence[str]) -> int:
    print(f"vpnwatch: invalid config {path}:", file=sys.stderr)
    for problem in problems:
        print(f"  - {problem}", file=sys.stderr)
    return EXIT_CONFIG


def load(
    path: str, *, environ: Mapping[str, str] | None = None, machine: bool = False
) -> Config | int:
    """The config, or the exit code after printing every problem. `machine`: also what the
    machine must provide (`startup_checks`), as `run` and `validate-config` need."""
    try:
        config = load_config(path, environ=environ)
    except ConfigError as exc:
        return config_problems(path, exc.problems)
    if machine:
        problems = machine_problems(config)
        if problems:
            return config_problems(path, problems)
    return config
