"""`vbash -s`: a configuration script on stdin, with VyOS's candidate/running/boot semantics.

`configure` opens a session on a copy of the running config (the candidate); `set`/`delete`/
`merge`/`load` change the candidate; `commit` verifies it and makes it running; `save`
writes the running config to /config/config.boot (or a file); `exit` leaves the session.
Like bash, the script goes on after a failed line; unlike bash, the exit status is 1 when
any line failed (so a caller cannot miss a refused commit).
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass, field

from vpnwatch.lab.vyos_sim.checks import commit_failure_text, commit_problems
from vpnwatch.lab.vyos_sim.core import BOOT_CONFIG, RouterCore
from vpnwatch.lab.vyos_sim.opmode import ExecResult, op_mode
from vpnwatch.lab.vyos_sim.tree import ConfigPathError, ConfigTree, parse_boot_text

SCRIPT_TEMPLATE = "/opt/vyatta/etc/functions/script-template"
_SESSION_VERBS = frozenset(
    {"set", "delete", "commit", "save", "merge", "load", "discard", "compare", "show", "run"}
)


@dataclass
class _Session:
    core: RouterCore
    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)
    failed: bool = False
    sourced: bool = False
    candidate: ConfigTree | None = None
    unsaved: bool = False  # committed since the last save
    ended: bool = False

    def fail(self, *lines: str) -> None:
        self.out.append("".join(line + "\n" for line in lines))
        self.failed = True

    def not_found(self, number: int, word: str) -> None:
        self.err.append(f"vbash: line {number}: {word}: command not found\n")
        self.failed = True

    @property
    def changed(self) -> bool:
        return self.candidate is not None and self.candidate != self.core.running


def _refused(verb: str, error: ConfigPathError) -> list[str]:
    return [
        "",
        *(f"  {line}" if line else "" for line in error.lines),
        f"  {verb.capitalize()} failed",
        "",
    ]


def _edit(s: _Session, verb: str, words: list[str]) -> None:
    assert s.candidate is not None
    try:
        if verb == "set":
            s.candidate.set(words)
        else:
            s.candidate.delete(words)
    except ConfigPathError as exc:
        s.fail(*_refused(verb, exc))


def _commit(s: _Session) -> None:
    assert s.candidate is not None
    if not s.changed:
        s.out.append("No configuration changes to commit\n")
        return
    problems = commit_problems(s.candidate)
    if problems:
        s.out.append(commit_failure_text(problems, s.core.version))
        s.failed = True
        return
    s.core.commit(s.candidate)
    s.unsaved = True


def _save(s: _Session, words: list[str]) -> None:
    path = words[0] if words else BOOT_CONFIG
    if s.changed:
        s.out.append("Warning: you have uncommitted changes that will not be saved.\n")
    try:
        s.core.save(path)
    except OSError as exc:
        s.fail(f"Cannot save configuration to '{path}': {exc.strerror}", "Save failed")
        return
    s.out.append(f"Saving configuration to '{path}'...\nDone\n")
    s.unsaved = s.unsaved and path != BOOT_CONFIG


def _load_file(s: _Session, verb: str, words: list[str]) -> None:
    """`merge FILE` adds a config.boot file to the candidate; `load FILE` replaces it."""
    assert s.candidate is not None
    if len(words) != 1:
        s.fail(f"Usage: {verb} <file>", f"{verb.capitalize()} failed")
        return
    path = words[0]
    try:
        text = s.core.read_file(path)
    except OSError as exc:
        s.fail(
            f"Cannot open configuration file {path}: {exc.strerror}", f"{verb.capitalize()} failed"
        )
        return
    s.out.append(f"Loading configuration from '{path}'...\n")
    try:
        paths = parse_boot_text(text)
    except ConfigPathError as exc:
        s.fail(*exc.lines, "Failed to parse specified config file", f"{verb.capitalize()} failed")
        return
    target = s.candidate if verb == "merge" else ConfigTree(s.core.version)
    refused = 0
    for words_of_node in paths:
        try:
            target.set(words_of_node)
        except ConfigPathError as exc:
            refused += 1
            s.out.append("".join(f"  {line}\n" for line in exc.lines if line))
    s.candidate = target
    if refused:
        s.fail("", f"{verb.capitalize()} failed: {refused} configuration node(s) are not valid")
    elif verb == "merge":
        s.out.append("\nMerge complete.  Use 'commit' to make changes effective.\n")
    else:
        s.out.append("\nLoad complete.  Use 'commit' to make changes effective.\n")


def _exit(s: _Session, words: list[str]) -> None:
    if s.candidate is None:
        s.ended = True  # the shell's own exit
    elif words == ["discard"] or not s.changed:
        s.candidate = None
        if s.unsaved:
            s.out.append("Warning: configuration changes have not been saved.\n")
    else:
        s.fail(
            "Cannot exit: configuration modified.",
            "Use 'exit discard' to discard the changes and exit.",
        )


def _run(s: _Session, words: list[str]) -> None:
    result = op_mode(s.core, words)
    s.out.append(result.stdout)
    s.failed = s.failed or result.status != 0


def _in_session(s: _Session, verb: str, words: list[str]) -> None:
    assert s.candidate is not None
    handlers: dict[str, Callable[[], None]] = {
        "set": lambda: _edit(s, "set", words),
        "delete": lambda: _edit(s, "delete", words),
        "commit": lambda: _commit(s),
        "save": lambda: _save(s, words),
        "merge": lambda: _load_file(s, "merge", words),
        "load": lambda: _load_file(s, "load", words),
        "run": lambda: _run(s, words),
        "show": lambda: s.out.append(s.candidate.boot_text(margin=" ") if s.candidate else ""),
        "discard": lambda: _discard(s),
    }
    handler = handlers.get(verb)
    if handler is None:
        s.fail(f"  Invalid command: [{' '.join([verb, *words])}]")
    else:
        handler()


def _discard(s: _Session) -> None:
    s.candidate = s.core.running.copy()
    s.out.append("  Changes have been discarded\n")


def _line(s: _Session, number: int, words: list[str]) -> None:
    verb, rest = words[0], words[1:]
    if verb == "source":
        if rest == [SCRIPT_TEMPLATE]:
            s.sourced = True
        else:
            s.err.append(f"vbash: {' '.join(rest)}: No such file or directory\n")
            s.failed = True
    elif verb == "exit":
        _exit(s, rest)
    elif verb == "echo":
        s.out.append(" ".join(rest) + "\n")
    elif verb == "configure" and s.sourced:
        if s.candidate is None:
            s.candidate = s.core.running.copy()
    elif verb in _SESSION_VERBS and s.candidate is not None:
        _in_session(s, verb, rest)
    elif verb == "set" and not s.sourced:
        pass  # bash's own `set`: sets positional parameters, silently
    elif verb in _SESSION_VERBS and s.sourced:
        s.fail(
            "",
            f"  {verb}: not in configuration mode (run 'configure' first)",
            f"  {verb.capitalize()} failed",
            "",
        )
    else:
        s.not_found(number, verb)


def run_script(core: RouterCore, text: str) -> ExecResult:
    session = _Session(core)
    for number, raw in enumerate(text.splitlines(), start=1):
        if session.ended:
            break
        try:
            words = shlex.split(raw, comments=True)
        except ValueError:
            session.err.append(
                f"vbash: line {number}: unexpected EOF while looking for matching quote\n"
            )
            session.failed = True
            continue
        if words:
            _line(session, number, words)
    return ExecResult("".join(session.out), "".join(session.err), 1 if session.failed else 0)
