"""BackupManager: pull each router's config, sanitize, store versioned, track drift.

Each backup also records the VyOS it was taken on: the config-version footer of the router's
/config/config.boot (read over SFTP; VyOS's `merge` migrates a file by it) and the release
`show version` reports (a `// vpnwatch-show-version:` line). A replacement compares that
release with its AMI's and restores the footer with the config.

The daemon calls `run_due(now, targets)` every cycle: it starts at most one bounded
background task that pulls the routers whose last pull is older than the interval; it
never blocks the loop (configs are parsed and sanitized in the parse pool, with a deadline)
and never raises into it. The PSKs of every pulled config become known secrets for
`vpnwatch.redaction`. A heal asks `latest_valid_backup(router)`
(synchronous: answered from what the last pull or `load` read from the store).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import structlog

from vpnwatch.adapters.vyos import RouterEndpoint
from vpnwatch.backup.sanitize import (
    DEFAULT_STRIP_SECTIONS,
    BackupRejected,
    PreparedBackup,
    changed_sections,
    check_not_shrunk,
    prepare_backup,
)
from vpnwatch.backup.store import BackupStore, version_time
from vpnwatch.errors import ParseError, VpnwatchError
from vpnwatch.metrics import ControlState
from vpnwatch.offloop import CONFIG_PARSE_DEADLINE, parse_off_loop
from vpnwatch.parsers import parse_config
from vpnwatch.redaction import redact, remember_secrets, secrets_in_commands

SHOW_CONFIGURATION = "show configuration"
SHOW_VERSION = "show version"
BOOT_FILE = "/config/config.boot"
MAX_BOOT_FILE = 4 * 1024 * 1024


class ConfigSource(Protocol):
    """What the manager needs of the VyOS adapter (`VyosClient` is one)."""

    async def run_op(self, router: RouterEndpoint, command: str) -> str: ...


@runtime_checkable
class ConfigFiles(Protocol):
    """A source that can also read files (SFTP): the config-version footer comes from it."""

    async def download(self, router: RouterEndpoint, remote_path: str, max_bytes: int) -> bytes: ...


@dataclass(frozen=True)
class BackupTarget:
    router: str
    endpoint: RouterEndpoint


@dataclass(frozen=True)
class BackupResult:
    router: str
    ok: bool
    version: str | None = None  # the stored version now current (new or unchanged)
    location: str | None = None  # file path or s3:// URL of that version
    changed: bool = False  # a new version was written
    drift: bool = False  # the config differs from the previous stored version
    sections_removed: tuple[str, ...] = ()  # instance-specific sections stripped
    changed_sections: tuple[str, ...] = ()  # section names only, never values
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "router": self.router,
            "version": self.version,
            "location": self.location,
            "changed": self.changed,
            "sections_removed": list(self.sections_removed),
            "error": self.error,
        }


@dataclass(frozen=True)
class ValidBackup:
    version: str
    text: str  # sanitized config.boot
    commands: tuple[str, ...]  # its canonical commands


class BackupManager:
    def __init__(
        self,
        store: BackupStore,
        source: ConfigSource,
        *,
        strip_sections: Sequence[str] = DEFAULT_STRIP_SECTIONS,
        interval: float = 3600.0,
        retry_interval: float = 300.0,
        pull_timeout: float = 60.0,
        max_concurrency: int = 4,
        control: ControlState | None = None,
        clock: Callable[[], float] = time.time,
        log: Any = None,
    ) -> None:
        self.store = store
        self._source = source
        self._strip = tuple(strip_sections)
        self.interval = interval
        self.retry_interval = min(retry_interval, interval)
        self._pull_timeout = pull_timeout
        self._sem = asyncio.Semaphore(max_concurrency)
        self.control = control if control is not None else ControlState()
        self._clock = clock
        self._log = log if log is not None else structlog.get_logger("vpnwatch.backup")
        self._valid: dict[str, ValidBackup] = {}
        self._next_due: dict[str, float] = {}  # router → epoch of its next pull
        self._task: asyncio.Task[list[BackupResult]] | None = None
        self.last_results: dict[str, BackupResult] = {}

    # ---------------------------------------------------------------- restore side

    def latest_valid_backup(self, router: str) -> tuple[str, str] | None:
        """(sanitized config.boot text, version id) of the newest stored version that
        parses, as of the last pull or `load`; None → no valid backup: do not replace."""
        valid = self._valid.get(router)
        return None if valid is None else (valid.text, valid.version)

    def has_valid_backup(self, router: str) -> bool:
        return router in self._valid

    async def find_latest_valid(self, router: str) -> ValidBackup | None:
        """Read the store: the newest version that parses (corrupt versions are skipped)."""
        for version in await self.store.versions(router):
            try:
                text = await self.store.get(router, version)
                commands = await parse_off_loop(
                    _stored_commands, text, deadline=CONFIG_PARSE_DEADLINE, what="stored backup"
                )
            except ParseError as exc:
                self._log.warning(
                    "backup.corrupt_version_skipped", router=router, version=version,
                    error=str(exc),
                )  # fmt: skip
                continue
            if commands:
                return ValidBackup(version, text, commands)
        return None

    async def load(self, routers: Iterable[str]) -> None:
        """Fill the restore cache (and the last-success metric) from the store; call at
        start-up so a router that is already dead can still be restored. Never raises."""
        for router in routers:
            await self._refresh(router)

    async def _refresh(self, router: str) -> ValidBackup | None:
        try:
            valid = await self.find_latest_valid(router)
        except (VpnwatchError, OSError) as exc:
            self._log.warning("backup.load_failed", router=router, error=_reason(exc))
            return self._valid.get(router)
        self._remember(router, valid)
        return valid

    def _remember(self, router: str, valid: ValidBackup | None) -> None:
        if valid is None:
            self._valid.pop(router, None)
            return
        self._valid[router] = valid
        stamped = version_time(valid.version)
        if stamped is not None and stamped > self.control.backup_success.get(router, 0.0):
            self.control.backup_success[router] = stamped

    # ---------------------------------------------------------------- pulling

    async def pull(
        self, router: str, endpoint: RouterEndpoint, *, now: float | None = None
    ) -> BackupResult:
        """Pull, check, sanitize and store one router's config. Never raises."""
        now = self._clock() if now is None else now
        try:
            async with self._sem, asyncio.timeout(self._pull_timeout):
                result = await self._pull(router, endpoint, now)
        except BackupRejected as exc:
            result = self._failed(router, f"pull rejected, previous backups kept: {exc}")
        except TimeoutError:
            result = self._failed(router, f"did not finish within {self._pull_timeout:g}s")
        except (VpnwatchError, OSError, ValueError) as exc:
            result = self._failed(router, _reason(exc, self._valid.get(router)))
        except Exception as exc:  # a bug: report its type only (its text might quote config)
            result = self._failed(router, f"internal error: {type(exc).__name__}")
        self.last_results[router] = result
        return result

    def _failed(self, router: str, reason: str) -> BackupResult:
        self._log.warning("backup.failed", router=router, error=reason)
        return BackupResult(router, ok=False, error=reason)

    async def _version_lines(self, router: str, endpoint: RouterEndpoint) -> str:
        """The router's config-version footer and `show version` release, as comment lines."""
        lines = ""
        if isinstance(self._source, ConfigFiles):
            try:
                boot = await self._source.download(endpoint, BOOT_FILE, MAX_BOOT_FILE)
                lines = await parse_off_loop(
                    config_footer, boot.decode("utf-8", "replace"),
                    deadline=CONFIG_PARSE_DEADLINE, what=BOOT_FILE,
                )  # fmt: skip
            except VpnwatchError as exc:
                self._log.warning("backup.no_version_footer", router=router, error=_reason(exc))
        release = release_line(await self._source.run_op(endpoint, SHOW_VERSION))
        return lines + release

    async def _pull(self, router: str, endpoint: RouterEndpoint, now: float) -> BackupResult:
        previous = await self.find_latest_valid(router)
        self._remember(router, previous)
        raw = await self._source.run_op(endpoint, SHOW_CONFIGURATION)
        # Off the loop: a hostile router's config must not stall the cycle or other pulls.
        prepared = await parse_off_loop(
            _prepare, raw, self._strip, deadline=CONFIG_PARSE_DEADLINE, what=SHOW_CONFIGURATION
        )
        check_not_shrunk(prepared.commands, previous.commands if previous else None)
        text = prepared.text + await self._version_lines(router, endpoint)
        if previous is not None and previous.text == text:
            result = BackupResult(
                router, ok=True, version=previous.version,
                location=self.store.location(router, previous.version),
                sections_removed=prepared.sections_removed,
            )  # fmt: skip
        else:
            version = await self.store.put(router, text, now=now)
            self._valid[router] = ValidBackup(version, text, prepared.commands)
            sections = changed_sections(previous.commands if previous else (), prepared.commands)
            result = BackupResult(
                router, ok=True, version=version, location=self.store.location(router, version),
                changed=True, drift=previous is not None and previous.commands != prepared.commands,
                sections_removed=prepared.sections_removed, changed_sections=sections,
            )  # fmt: skip
            self._log_stored(result, first=previous is None)
        self.control.backup_success[router] = now
        self.control.backup_drift[router] = result.drift
        return result

    def _log_stored(self, result: BackupResult, *, first: bool) -> None:
        summary = (
            "first backup" if first else f"changed sections: {', '.join(result.changed_sections)}"
        )
        self._log.info(
            "backup.stored", router=result.router, version=result.version,
            store=self.store.kind, summary=summary,
        )  # fmt: skip

    async def pull_all(
        self, targets: Sequence[BackupTarget], *, now: float | None = None
    ) -> list[BackupResult]:
        """Pull every target concurrently (bounded); results in target order."""
        now = self._clock() if now is None else now
        return list(
            await asyncio.gather(*(self.pull(t.router, t.endpoint, now=now) for t in targets))
        )

    # ---------------------------------------------------------------- schedule

    def due(self, now: float, routers: Iterable[str]) -> tuple[str, ...]:
        """Routers whose next pull time has come (never pulled → due)."""
        return tuple(r for r in routers if self._next_due.get(r, float("-inf")) <= now)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def run_due(
        self, now: float, targets: Sequence[BackupTarget]
    ) -> asyncio.Task[list[BackupResult]] | None:
        """Start one background task pulling the due targets, unless one still runs.

        Non-blocking; returns the task (for tests and shutdown) or None when nothing started.
        """
        if self.running:
            return None
        due = set(self.due(now, (t.router for t in targets)))
        chosen = [t for t in targets if t.router in due]
        if not chosen:
            return None
        for target in chosen:  # claimed now: a slow pull is not started twice
            self._next_due[target.router] = now + self.retry_interval
        self._task = asyncio.create_task(self._run(chosen, now), name="vpnwatch-backup")
        return self._task

    async def _run(self, targets: Sequence[BackupTarget], now: float) -> list[BackupResult]:
        results = await self.pull_all(targets, now=now)
        for result in results:
            wait = self.interval if result.ok else self.retry_interval
            self._next_due[result.router] = now + wait
        return results

    async def close(self) -> None:
        """Cancel a pull in flight (shutdown)."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def _prepare(raw: str, strip: Sequence[str]) -> PreparedBackup:
    """In the parse pool: sanitize a pull; its PSKs become known secrets for redaction."""
    prepared = prepare_backup(raw, strip)
    remember_secrets(secrets_in_commands(prepared.commands))
    return prepared


def _stored_commands(text: str) -> tuple[str, ...]:
    """In the parse pool: a stored version's canonical commands; its PSKs become known."""
    commands = parse_config(text).commands
    remember_secrets(secrets_in_commands(commands))
    return commands


def _reason(exc: BaseException, known: ValidBackup | None = None) -> str:
    """A one-line error without secrets: known secret values of the router are masked."""
    text = str(exc) or type(exc).__name__
    return redact(text, secrets_in_commands(known.commands) if known else ())


def config_footer(boot_text: str) -> str:
    """The comment lines after a config.boot's last closing brace (its version footer)."""
    lines = boot_text.rstrip().splitlines()
    last_brace = max((i for i, line in enumerate(lines) if line.strip() == "}"), default=-1)
    kept = [ln.strip() for ln in lines[last_brace + 1 :] if ln.strip().startswith(("//", "/*"))]
    return "".join(line + "\n" for line in kept)


def release_line(show_version: str) -> str:
    """`// vpnwatch-show-version: 1.4.3` from `show version` ("" when it names none)."""
    for line in show_version.splitlines():
        words = line.split()
        if len(words) >= 3 and words[0] == "Version:" and words[1] == "VyOS":
            return f"// vpnwatch-show-version: {words[2]}\n"
    return ""
