"""Pure helpers of the VyOS adapter: command lines, config scripts, error detection, backoff.

No I/O and no asyncssh here, so every rule is unit-tested directly.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from vpnwatch.adapters.vyos_errors import CommandFailed, SshError, UnsafeCommand
from vpnwatch.errors import ParseError
from vpnwatch.model import BgpSummary, IkeSaList, IpsecSaList, RouterSshView
from vpnwatch.parsers import EmptyOutput, ServiceNotRunning, parse_ike_sa, parse_ipsec_sa
from vpnwatch.parsers._util import says_not_running
from vpnwatch.redaction import redact
from vpnwatch.vocabulary import SshErrorKind

OP_WRAPPER = "/opt/vyatta/bin/vyatta-op-cmd-wrapper"
SCRIPT_TEMPLATE = "/opt/vyatta/etc/functions/script-template"
CONFIG_SHELL = "vbash -s"

BGP_SUMMARY_TEXT = "show ip bgp summary"
BGP_SUMMARY_JSON_LINE = shlex.join(["vtysh", "-c", "show ip bgp summary json"])
IKE_SA = "show vpn ike sa"
IPSEC_SA = "show vpn ipsec sa"
SA_LISTINGS = frozenset({IKE_SA, IPSEC_SA})

# Config-mode verbs a script may use. `commit` and `save` are also appended by the builder.
CONFIG_VERBS = frozenset(
    {"set", "delete", "commit", "save", "merge", "load", "comment", "rename", "copy", "discard"}
)

# Outside quotes these would make bash do something other than run one config command.
_SHELL_META = frozenset(";&|<>$`\\(){}#*?[]~!")
# Inside double quotes bash still expands these.
_DOUBLE_QUOTE_META = frozenset("$`\\!")


def _first_bad_char(text: str) -> str | None:
    for ch in text:
        if not ch.isprintable():
            return ch
    return None


def _check_printable(command: str, what: str) -> None:
    if not command.strip():
        raise UnsafeCommand(f"{what} is empty")
    bad = _first_bad_char(command)
    if bad is not None:
        raise UnsafeCommand(f"{what} contains control character {ord(bad):#04x}")


def op_command_line(command: str) -> str:
    """`show ip bgp summary` → the exec line running it through VyOS's op-mode wrapper."""
    _check_printable(command, "op-mode command")
    try:
        words = shlex.split(command)
    except ValueError as exc:
        raise UnsafeCommand(f"op-mode command cannot be split into words: {exc}") from None
    return shlex.join([OP_WRAPPER, *words])


def _shell_syntax_problem(command: str) -> str | None:
    """Why bash would not see `command` as one simple command with literal words, or None."""
    quote: str | None = None
    for ch in command:
        if quote == "'":
            if ch == "'":
                quote = None
        elif quote == '"':
            if ch == '"':
                quote = None
            elif ch in _DOUBLE_QUOTE_META:
                return f"character {ch!r} inside double quotes (use single quotes)"
        elif ch in "'\"":
            quote = ch
        elif ch in _SHELL_META:
            return f"shell metacharacter {ch!r} outside quotes"
    if quote is not None:
        return "unbalanced quote"
    return None


def validate_config_commands(commands: Sequence[str]) -> None:
    """Reject anything that is not one plain config-mode command per entry.

    Errors name the command by position only: its text may hold a pre-shared key.
    """
    if isinstance(commands, str):
        raise UnsafeCommand("config commands must be a sequence of commands, not one string")
    for number, command in enumerate(commands, start=1):
        what = f"config command #{number}"
        _check_printable(command, what)
        problem = _shell_syntax_problem(command)
        if problem is not None:
            raise UnsafeCommand(f"{what}: {problem}")
        verb = command.split(maxsplit=1)[0]
        if verb not in CONFIG_VERBS:
            raise UnsafeCommand(f"{what}: verb is not one of {', '.join(sorted(CONFIG_VERBS))}")


def build_config_script(commands: Sequence[str], *, save: bool = True) -> str:
    """The vbash script (fed on stdin to `vbash -s`) that applies `commands` and commits."""
    validate_config_commands(commands)
    lines = [f"source {SCRIPT_TEMPLATE}", "configure", *commands, "commit"]
    if save:
        lines.append("save")
    lines.append("exit")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- reading the router's answer

# What a failed config script prints (vyatta-cfg, vyos-1x). Each marker has a kind: errors
# name the kind and the output line, never the router's words (they echo config values).
_CONFIG_FAILURE = re.compile(
    r"^\s*(?:"
    r"(?P<verb>set|delete|commit|save|load|merge|discard|rollback|comment|copy|rename) failed\b"
    r"|(?P<invalid>invalid command\b)"
    r"|(?P<path>configuration path: .* is not valid)"
    r"|(?P<value>value validation failed)"
    r"|(?P<open>cannot open configuration file)"
    r"|(?P<hook>.*\]\] failed\s*$)"
    r"|(?P<notfound>.*: command not found\s*$)"
    r")",
    re.IGNORECASE,
)
_FAILURE_KIND = {
    "invalid": "Invalid command",
    "path": "configuration path is not valid",
    "value": "value validation failed",
    "open": "cannot open configuration file",
    "hook": "a commit script of a node failed",
    "notfound": "command not found",
}
_NOISE = re.compile(
    r"^\s*(?:\[edit\]|no configuration changes to commit"
    r"|saving configuration to .*|done|exit|warning: configuration changes have not been saved\.?)"
    r"\s*$",
    re.IGNORECASE,
)
_INVALID_OP = re.compile(r"^\s*invalid command\b", re.IGNORECASE)


def meaningful_lines(output: str) -> list[str]:
    """The output's lines without blank lines and VyOS's `[edit]`/save chatter."""
    return [ln.rstrip() for _, ln in _numbered_meaningful(output)]


def _numbered_meaningful(output: str) -> list[tuple[int, str]]:
    return [
        (number, line)
        for number, line in enumerate(output.splitlines(), start=1)
        if line.strip() and not _NOISE.match(line)
    ]


def clean_config_output(output: str) -> str:
    return "\n".join(meaningful_lines(output))


def _failure_kind(match: re.Match[str]) -> str:
    verb = match.group("verb")
    if verb is not None:
        return f"{verb.capitalize()} failed"
    name = next(key for key in _FAILURE_KIND if match.group(key) is not None)
    return _FAILURE_KIND[name]


def _lines(count: int) -> str:
    return f"{count} line{'s' if count != 1 else ''}"


def _where(numbers: Sequence[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:5])
    return f"output line{'s' if len(numbers) > 1 else ''} {shown}"


def config_failure(output: str, exit_status: int | None) -> str | None:
    """A one-line description of why a config script failed, or None when it succeeded.

    Either signal is enough: VyOS may print "Commit failed" and still exit 0, and a script
    killed half way exits non-zero without printing anything useful. The description names
    the kinds of failure and their output lines, never the output itself.
    """
    lines = _numbered_meaningful(output)
    kinds: list[str] = []
    numbers: list[int] = []
    for number, line in lines:
        match = _CONFIG_FAILURE.match(line)
        if match is not None:
            numbers.append(number)
            if (kind := _failure_kind(match)) not in kinds:
                kinds.append(kind)
    if kinds:
        return f"{'; '.join(kinds)} ({_where(numbers)})"
    if exit_status != 0:
        status = "no exit status" if exit_status is None else f"exit status {exit_status}"
        tail = f" after {_lines(len(lines))} of output" if lines else ""
        return f"configuration script ended with {status}{tail}"
    return None


def op_failure(
    output: str, exit_status: int | None, *, not_running_is_an_answer: bool = False
) -> str | None:
    """Why an op-mode command failed, or None. Never quotes the output: kind and position.

    `not_running_is_an_answer`: for the SA listings, "IPsec is not runing" (VyOS 1.3, exit 1)
    means "no SAs". For anything else, a mutation above all, it stays a failure.
    """
    lines = _numbered_meaningful(output)
    if lines and _INVALID_OP.match(lines[0][1]):
        return f"Invalid command: the router refused it ({_where([lines[0][0]])})"
    if not_running_is_an_answer and exit_status not in (0, None) and says_not_running(output):
        return None  # "IPsec is not runing" exits 1: that is an answer (no SAs), not a failure
    if exit_status != 0:
        status = "no exit status" if exit_status is None else f"exit status {exit_status}"
        return status + (f" ({_lines(len(lines))} of output)" if lines else "")
    return None


# ---------------------------------------------------------------- reconnect backoff


def reconnect_delay(failures: int, initial: float, maximum: float) -> float:
    """Seconds to wait after `failures` consecutive failed connects (exponential, capped)."""
    if failures <= 0:
        return 0.0
    return float(min(maximum, initial * 2.0 ** min(failures - 1, 30)))


# ---------------------------------------------------------------- results and views


@dataclass(frozen=True)
class ExecResult:
    stdout: str
    stderr: str
    exit_status: int | None

    @property
    def text(self) -> str:
        """What the router said: stdout, or stderr when stdout is empty."""
        return self.stdout if self.stdout.strip() else self.stderr


def parse_ike_or_none(text: str) -> IkeSaList:
    """`show vpn ike sa`; no SA at all (empty output, "not running") is an empty list."""
    try:
        return parse_ike_sa(text)
    except (EmptyOutput, ServiceNotRunning):
        return IkeSaList(())


def parse_ipsec_or_none(text: str) -> IpsecSaList:
    """`show vpn ipsec sa`; no SA at all (empty output, "not running") is an empty list."""
    try:
        return parse_ipsec_sa(text)
    except (EmptyOutput, ServiceNotRunning):
        return IpsecSaList(())


def describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _error_rank(exc: BaseException) -> int:
    """Which of several concurrent errors to report: transport before command before parse."""
    if isinstance(exc, SshError) and not exc.reachable:
        return 0
    if isinstance(exc, CommandFailed):
        return 1
    if isinstance(exc, ParseError | SshError):
        return 2
    return 3


def observation_view(
    router: str,
    bgp: BgpSummary | BaseException,
    ike: IkeSaList | BaseException,
    ipsec: IpsecSaList | BaseException,
) -> RouterSshView:
    """One router's view from its three concurrent answers (each a result or an error).

    The parts that worked are kept; the worst error decides `reachable` and `error_kind`.
    A parse problem or a bug reads as PARSE (the caller's "unknown"), never as a dead router.
    """
    errors = [r for r in (bgp, ike, ipsec) if isinstance(r, BaseException)]
    reachable, error, kind = True, None, None
    if errors:
        worst = min(errors, key=_error_rank)
        if isinstance(worst, SshError):
            reachable, error, kind = worst.reachable, worst.detail, worst.kind
        elif isinstance(worst, ParseError):
            error, kind = str(worst), SshErrorKind.PARSE
        else:  # a bug: its type only, its text might quote the router's output
            error, kind = f"internal error: {type(worst).__name__}", SshErrorKind.PARSE
    return RouterSshView(
        router,
        reachable,
        None if error is None else redact(error),
        kind,
        bgp=None if isinstance(bgp, BaseException) else bgp,
        ike=None if isinstance(ike, BaseException) else ike,
        ipsec=None if isinstance(ipsec, BaseException) else ipsec,
    )


def error_view(router: str, exc: BaseException) -> RouterSshView:
    """The view when not even a session could be had (or a bug struck before any command)."""
    if isinstance(exc, SshError):
        return RouterSshView(router, exc.reachable, redact(exc.detail), exc.kind)
    return RouterSshView(router, True, f"internal error: {type(exc).__name__}", SshErrorKind.PARSE)


def host_key_detail(where: str, source: str, presented: str | None, expected: Sequence[str]) -> str:
    """The HostKeyMismatch message: fingerprints only, never key material beyond them."""
    shown = presented or "an unknown key"
    if not expected:
        return f"host key of {where} is unknown: no entry in {source}; presented {shown}"
    return (
        f"host key of {where} does not match {source}: presented {shown}, "
        f"expected {', '.join(expected)}"
    )
