"""`vpnwatch state check|reset`: read every state document; move an unreadable one aside.

While any state document is unreadable the daemon observes but never acts, and says which
file and why in its reason line and `vpnwatch_state_error{file}`. `reset` never deletes: it
renames the file to `<name>.corrupt-<time>` so it can be examined, and refuses a file that
reads fine (close the breaker with `vpnwatch heal --reset-breaker` instead).
"""

from __future__ import annotations

import sys
import time

from vpnwatch.commands.common import EXIT_CONFIG, EXIT_FAILED, EXIT_OK
from vpnwatch.commands.operator import state_store
from vpnwatch.config import Config
from vpnwatch.statestore.api import StateStore

_AFTER_RESET = {
    "heals/": "that heal's record is gone from vpnwatch's view: check in AWS what it left "
    "(docs/operations.md, VpnwatchHealFailed) before healing that router again",
    "guards.": "its breaker, episodes and cooldowns start empty",
    "hysteresis.json": "failure streaks start from zero",
    "fleet.json": "relaunched routers are looked up by their configured selector again",
}


def state_check(config: Config) -> int:
    backend = state_store(config)
    try:
        documents = backend.store.check()
    finally:
        backend.close()
    bad = 0
    for name, problem in documents:
        if problem is None:
            print(f"{name}: ok")
        else:
            bad += 1
            print(f"{name}: UNREADABLE: {problem.why}")
    if not documents:
        print(f"{config.state_dir}: no state yet")
    if bad:
        print(f"{bad} unreadable: the daemon acts on nothing until they are repaired or moved "
              "aside with `vpnwatch state reset --config F --file NAME`")  # fmt: skip
    return EXIT_FAILED if bad else EXIT_OK


def state_reset(config: Config, name: str) -> int:
    backend = state_store(config)
    try:
        return _reset(config, backend.store, name)
    finally:
        backend.close()


def _reset(config: Config, store: StateStore, name: str) -> int:
    documents = dict(store.check())
    if name not in documents:
        known = ", ".join(sorted(documents)) or "none"
        print(f"vpnwatch state reset: no state document {name!r} (there are: {known})",
              file=sys.stderr)  # fmt: skip
        return EXIT_CONFIG
    if documents[name] is None:
        print(f"vpnwatch state reset: {name} reads fine: not moving it (to close the breaker: "
              "vpnwatch heal --reset-breaker)", file=sys.stderr)  # fmt: skip
        return EXIT_FAILED
    where = store.quarantine(name, time.time())
    note = next((n for prefix, n in _AFTER_RESET.items() if name.startswith(prefix)), "")
    print(f"moved {name} to {where}" + (f"; {note}" if note else ""))
    return EXIT_OK
