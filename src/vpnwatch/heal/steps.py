"""Retrying one heal step within its own deadline (tenacity), on the workflow's clock.

Temporary errors (throttling past the call budget, an SSH blip) and, where a step asks for
it, the errors of an instance that is still settling (`InvalidInstanceID.NotFound` right
after RunInstances, the pending-state refusals of AssociateAddress/ModifyInstanceAttribute)
are retried until the step's deadline; then the step fails with the last error.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_fixed

from vpnwatch.adapters.aws import AwsApiError
from vpnwatch.errors import PermanentError, TemporaryError

T = TypeVar("T")
# What EC2 answers about an instance that is still settling (aws-facts: pending instances,
# eventual consistency); never permanent for the instance a heal has just launched.
SETTLING_CODES = frozenset(
    {"InvalidInstanceID.NotFound", "InvalidInstanceID", "IncorrectInstanceState",
     "InvalidNetworkInterfaceID.NotFound"}
)  # fmt: skip


class NotYet(TemporaryError):
    """A condition that resolves itself while the instance finishes what it is doing."""


class HealFailed(PermanentError):
    """The heal cannot continue; a human has to look (the reason says why)."""


def settling(exc: BaseException) -> bool:
    return isinstance(exc, AwsApiError) and exc.code in SETTLING_CODES


async def within(
    what: str,
    limit: float,
    action: Callable[[], Awaitable[T]],
    *,
    monotonic: Callable[[], float],
    sleep: Callable[[float], Awaitable[None]],
    interval: float,
    also_retry: Callable[[BaseException], bool] = lambda exc: False,
    on_retry: Callable[[BaseException], None] = lambda exc: None,
) -> T:
    """`action()` until it returns, retrying temporary errors until `limit` seconds passed."""
    deadline = monotonic() + limit

    def retryable(exc: BaseException) -> bool:
        return isinstance(exc, TemporaryError) or also_retry(exc)

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        if exc is not None:
            on_retry(exc)

    retrying = AsyncRetrying(
        stop=lambda state: monotonic() >= deadline,
        wait=wait_fixed(interval),
        retry=retry_if_exception(retryable),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        result: T = await retrying(action)
        return result
    except NotYet as exc:
        raise HealFailed(f"timed out after {limit:.0f} s waiting for {what}{_last(exc)}") from None
    except Exception as exc:
        if retryable(exc):
            raise HealFailed(f"{what}: still failing after {limit:.0f} s: {exc}") from None
        raise


def _last(exc: NotYet) -> str:
    return f" ({exc})" if str(exc) else ""


async def until_ready(
    what: str,
    limit: float,
    probe: Callable[[], Awaitable[Any]],
    **kwargs: Any,
) -> Any:
    """Poll `probe` until it returns something truthy (temporary errors retried)."""

    async def once() -> Any:
        result = await probe()
        if not result:
            raise NotYet("")
        return result

    return await within(what, limit, once, **kwargs)
