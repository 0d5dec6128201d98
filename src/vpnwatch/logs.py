"""structlog set-up: JSON lines by default, console rendering on a TTY; secrets masked."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO

import structlog

from vpnwatch.redaction import redact_data, remember_secrets

_ENV_SECRETS = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


def redact_secrets(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Last line of defence: every log event goes through the one redaction function."""
    cleaned: dict[str, Any] = redact_data(dict(event))
    event.clear()
    event.update(cleaned)
    return event


def remember_environment_secrets(environ: Mapping[str, str] | None = None) -> None:
    """The AWS credentials of the environment are known secrets from the start."""
    env = os.environ if environ is None else environ
    remember_secrets(env.get(name) for name in _ENV_SECRETS)


def configure_logging(fmt: str = "auto", level: str = "info", stream: TextIO | None = None) -> None:
    out = stream or sys.stderr
    remember_environment_secrets()
    use_console = fmt == "console" or (fmt == "auto" and out.isatty())
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=out.isatty())
        if use_console
        else structlog.processors.JSONRenderer(sort_keys=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str = "vpnwatch") -> Any:
    return structlog.get_logger(name)
