"""The hostile-answer faults of a simulated router (issue 9): answers a broken or compromised
router could give, to show that the daemon neither stalls on them nor leaks what they carry.

- `deep-config`: `show configuration` is a config.boot nested 10,000 levels deep (about
  60 KiB, well under the daemon's output cap): a quadratic parser stalls on it for seconds.
- `secret-output`: `show vpn ike sa` starts with a `secret <PSK>` line (the router's own
  pre-shared key) before the normal table: a parser that quotes its input in an error
  puts the PSK into the log and `check --json`.
"""

from __future__ import annotations

from vpnwatch.lab.vyos_sim.core import Fault, RouterCore

DEEP_LEVELS = 10_000


def deep_config_text(levels: int = DEEP_LEVELS) -> str:
    return "interfaces {\n" + "a {\n" * (levels - 1) + "b c\n" + "}\n" * levels


def secret_line(core: RouterCore) -> str:
    psk = core.tunnels[0].psk if core.tunnels else "Zq8nopskconfigured0"
    return f"secret {psk}\n"


def hostile_stdout(core: RouterCore, line: str, stdout: str) -> str:
    """What the op-mode command `line` prints under the hostile faults (`stdout` otherwise)."""
    if Fault.DEEP_CONFIG in core.faults and line == "show configuration":
        return deep_config_text()
    if Fault.SECRET_OUTPUT in core.faults and line == "show vpn ike sa":
        return secret_line(core) + stdout
    return stdout
