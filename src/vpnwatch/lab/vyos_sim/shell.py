"""What the router's non-interactive SSH channel does with a command line.

`/opt/vyatta/bin/vyatta-op-cmd-wrapper <op-mode command>`, `vtysh -c '<cmd>'` and
`vbash -s` (a config script on stdin) are understood; anything else fails as on VyOS, where
op-mode commands are not on the PATH of a non-interactive shell.
"""

from __future__ import annotations

import shlex

from vpnwatch.lab.vyos_sim.core import RouterCore
from vpnwatch.lab.vyos_sim.opmode import OP_WRAPPER, ExecResult, op_mode, vtysh
from vpnwatch.lab.vyos_sim.script import run_script


def run_command(core: RouterCore, command: str, stdin: str) -> ExecResult:
    """One exec request: the command line and whatever the client sent on stdin."""
    try:
        words = shlex.split(command)
    except ValueError:
        return ExecResult(
            "", "vbash: -c: line 1: unexpected EOF while looking for matching quote\n", 2
        )
    if not words:
        return ExecResult("")
    if words[0] == OP_WRAPPER:
        return op_mode(core, words[1:])
    if words[0] == "vtysh":
        if len(words) == 3 and words[1] == "-c":
            return vtysh(core, words[2])
        return ExecResult("", "vtysh: only -c COMMAND is supported here\n", 1)
    if words[0] in ("vbash", "/bin/vbash"):
        if words[1:] == ["-s"]:
            return run_script(core, stdin)
        if len(words) == 3 and words[1] == "-ic":  # an interactive shell has op-mode
            return op_mode(core, shlex.split(words[2]))
    return ExecResult("", f"vbash: line 1: {words[0]}: command not found\n", 127)
