"""Error kinds: temporary errors are retried next cycle, permanent ones need a human."""

from __future__ import annotations


class VpnwatchError(Exception):
    """Base of every error vpnwatch raises on purpose."""


class TemporaryError(VpnwatchError):
    """Worth retrying: throttling, timeouts, 5xx, connection refused."""


class PermanentError(VpnwatchError):
    """Retrying will not help: bad config, access denied, a resource that does not exist."""


class ConditionFailed(PermanentError):
    """A conditional write found its condition false (DynamoDB ConditionalCheckFailed, or a
    transaction cancelled for it). `items`: which writes of a transaction failed (by index)."""

    def __init__(self, message: str, items: tuple[int, ...] = ()) -> None:
        self.items = items
        super().__init__(message)


class ConfigError(PermanentError):
    """The configuration is invalid. `problems` lists every problem with its YAML path
    (through the one redaction function: a problem never shows a secret)."""

    def __init__(self, problems: list[str]) -> None:
        from vpnwatch.redaction import redact  # errors is imported everywhere: keep it light

        problems = [redact(problem) for problem in problems]
        self.problems = problems
        super().__init__("; ".join(problems))


class ParseError(VpnwatchError):
    """Router or AWS output that is not what it should be. Never acted upon."""
