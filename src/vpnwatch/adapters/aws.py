"""The only module that talks to AWS (boto3). Read side: one bounded fetch per region per cycle.

Every call has botocore timeouts and a tenacity retry budget that fits inside the poll
interval (the config enforces it). botocore's own retries are off so the budget is ours.
An AWS failure makes that region's data unknown for the cycle, never "down".
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import boto3
import botocore.config
import botocore.exceptions
import botocore.parsers
from tenacity import (
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
    wait_random_exponential,
)
from tenacity import Retrying as _Retrying
from tenacity.wait import wait_base

from vpnwatch.config import AwsConfig, is_loopback_url
from vpnwatch.config.heal import HealAwsConfig
from vpnwatch.discovery import ObservedAws, RegionResponses, RouterSelector, discover
from vpnwatch.errors import ParseError, PermanentError, TemporaryError
from vpnwatch.model import RouterAwsView
from vpnwatch.redaction import redact

T = TypeVar("T")
MUTATION_CONCURRENCY = 4  # heals run one or two at a time; their calls are few and slow

_THROTTLE_CODES = frozenset(
    {
        "RequestLimitExceeded",
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
        "RequestThrottled",
        "SlowDown",
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
        "Unavailable",
    }
)


# Throttling proper (the retry set above also retries 5xx): what `outcome="throttled"` counts.
_THROTTLED = frozenset(
    {
        "RequestLimitExceeded",
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
        "RequestThrottled",
        "SlowDown",
    }
)

# (region, action, outcome, seconds): one per HTTP request, retries and pages included.
RequestObserver = Callable[[str, str, str, float], None]


def request_outcome(status: int | None, code: str, exc: BaseException | None = None) -> str:
    """ok / throttled / timeout / error, as `vpnwatch_aws_requests_total` counts them."""
    if exc is not None:
        timeouts = (botocore.exceptions.ReadTimeoutError, botocore.exceptions.ConnectTimeoutError)
        return "timeout" if isinstance(exc, timeouts) else "error"
    if status is not None and status < 300:
        return "ok"
    return "throttled" if code in _THROTTLED else "error"


class AwsCallFailed(TemporaryError):
    """An AWS call failed after its retries (throttling, 5xx, network)."""


class AwsAccessDenied(PermanentError):
    """AWS refused the call: credentials or IAM policy."""


class AwsApiError(PermanentError):
    """AWS answered with an error that retrying now will not fix (the code says which)."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, botocore.exceptions.ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        return code in _THROTTLE_CODES or status >= 500
    return isinstance(
        exc,
        botocore.exceptions.ConnectionError
        | botocore.exceptions.HTTPClientError
        | botocore.parsers.ResponseParserError,
    )


def describe_error(exc: BaseException) -> str:
    """A one-line reason without request ids or credentials."""
    if isinstance(exc, botocore.exceptions.ClientError):
        err = exc.response.get("Error", {})
        op = getattr(exc, "operation_name", "call")
        text = f"{op}: {err.get('Code', 'error')}: {err.get('Message', '')}".strip()
    else:
        text = f"{type(exc).__name__}: {exc}"
    return redact(" ".join(text.split()))


class AwsClient:
    """boto3 behind a bounded thread pool; one EC2 client per region, reused."""

    def __init__(
        self,
        settings: AwsConfig,
        *,
        mutations: HealAwsConfig | None = None,
        session: boto3.session.Session | None = None,
        on_request: RequestObserver | None = None,
    ):
        """`mutations` (`heal.aws`): the heals' own client. Its timeouts and retries replace
        the poll budget's, and its backoff has full jitter up to `retry_max_backoff`, so the
        retries of many callers do not line up; a slow RunInstances never starves the polls.
        `on_request` hears of every HTTP request (vpnwatch_aws_requests_total)."""
        self._endpoint_url = settings.endpoint_url
        self._on_request = on_request
        self._session = session or _session_for(settings.endpoint_url)
        self._clients: dict[tuple[str, str], Any] = {}
        budget: AwsConfig | HealAwsConfig = mutations or settings
        self._max_attempts = budget.max_attempts
        self._wait: wait_base = (
            wait_random_exponential(
                multiplier=mutations.retry_backoff / 2, max=mutations.retry_max_backoff
            )
            if mutations is not None
            else wait_exponential(multiplier=settings.retry_backoff / 2, max=settings.retry_backoff)
        )
        workers = MUTATION_CONCURRENCY if mutations is not None else settings.max_concurrency
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vpnwatch-aws")
        self._botocore_config = botocore.config.Config(
            connect_timeout=budget.connect_timeout,
            read_timeout=budget.read_timeout,
            retries={"total_max_attempts": 1, "mode": "standard"},  # tenacity retries instead
            max_pool_connections=workers,
            user_agent_extra="vpnwatch",
        )

    def client(self, service: str, region: str) -> Any:
        key = (service, region)
        if key not in self._clients:
            self._clients[key] = self._session.client(
                service,  # type: ignore[call-overload]
                region_name=region,
                endpoint_url=self._endpoint_url,
                config=self._botocore_config,
            )
            if self._on_request is not None:
                self._instrument(self._clients[key], region, self._on_request)
        return self._clients[key]

    @staticmethod
    def _instrument(client: Any, region: str, report: RequestObserver) -> None:
        """Every HTTP request of this client, timed and classified (botocore's events)."""

        def before(context: dict[str, Any], model: Any, **_: Any) -> None:
            context["vpnwatch_request"] = (model.name, time.monotonic())

        def finished(context: dict[str, Any], outcome: str) -> None:
            action, started = context.pop("vpnwatch_request", ("unknown", time.monotonic()))
            report(region, action, outcome, time.monotonic() - started)

        def after(context: dict[str, Any], http_response: Any, parsed: Any, **_: Any) -> None:
            code = str((parsed or {}).get("Error", {}).get("Code", ""))
            finished(context, request_outcome(http_response.status_code, code))

        def after_error(context: dict[str, Any], exception: BaseException, **_: Any) -> None:
            finished(context, request_outcome(None, "", exception))

        events = client.meta.events
        events.register("before-call", before)
        events.register("after-call", after)
        events.register("after-call-error", after_error)

    def _retrying(self) -> _Retrying:
        def _final(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            assert exc is not None
            raise AwsCallFailed(describe_error(exc)) from None

        return _Retrying(
            stop=stop_after_attempt(self._max_attempts),
            wait=self._wait,
            retry=retry_if_exception(_is_transient),
            retry_error_callback=_final,
            reraise=True,
        )

    def _with_retries(self, fn: Callable[[], T]) -> T:
        """`fn` with the retry budget; raises AwsCallFailed / AwsAccessDenied / AwsApiError."""
        try:
            return self._retrying()(fn)
        except botocore.exceptions.ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in (
                "AuthFailure",
                "UnauthorizedOperation",
                "AccessDenied",
                "AccessDeniedException",  # DynamoDB and the other JSON-protocol services
                "InvalidClientTokenId",
            ):
                raise AwsAccessDenied(describe_error(exc)) from None
            raise AwsApiError(code, describe_error(exc)) from None
        except botocore.exceptions.BotoCoreError as exc:
            raise AwsCallFailed(describe_error(exc)) from None

    def call_sync(self, service: str, region: str, operation: str, **kwargs: Any) -> Any:
        """One API call with the retry budget."""
        method = getattr(self.client(service, region), operation)
        return self._with_retries(lambda: method(**kwargs))

    async def call(self, service: str, region: str, operation: str, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        fn = functools.partial(self.call_sync, service, region, operation, **kwargs)
        return await loop.run_in_executor(self._pool, fn)

    def _all_pages_sync(
        self, region: str, operation: str, key: str, kwargs: Mapping[str, Any]
    ) -> list[Mapping[str, Any]]:
        paginator = self.client("ec2", region).get_paginator(operation)

        def every_page() -> list[Mapping[str, Any]]:
            return [i for page in paginator.paginate(**kwargs) for i in _flatten(page, key)]

        # One budget for the whole listing: a retry starts it again (one page, nearly always).
        return self._with_retries(every_page)

    async def _paged(
        self, region: str, operation: str, key: str, **kwargs: Any
    ) -> list[Mapping[str, Any]]:
        """Every item of a paginated EC2 listing, through boto3's paginator."""
        loop = asyncio.get_running_loop()
        fn = functools.partial(self._all_pages_sync, region, operation, key, kwargs)
        return await loop.run_in_executor(self._pool, fn)

    async def fetch_region(
        self, region: str, selectors: Sequence[RouterSelector]
    ) -> dict[str, RouterAwsView]:
        """Everything one region's routers need, in five calls at most, concurrently."""
        ids = sorted({s.instance_id for s in selectors if s.instance_id})
        instance_calls = []
        if ids:
            instance_calls.append(
                self._paged(
                    region,
                    "describe_instances",
                    "Instances",
                    Filters=[{"Name": "instance-id", "Values": ids}],
                )
            )
        for sel in selectors:
            if sel.tags:
                filters = [{"Name": f"tag:{k}", "Values": [v]} for k, v in sorted(sel.tags.items())]
                instance_calls.append(
                    self._paged(region, "describe_instances", "Instances", Filters=filters)
                )

        async def instances_and_status() -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
            batches = await _all_or_first_error(*instance_calls)
            seen: dict[str, Mapping[str, Any]] = {}
            for batch in batches:
                for item in batch:
                    seen[str(item.get("InstanceId"))] = item
            statuses: list[Mapping[str, Any]] = []
            if seen:
                statuses = await self._paged(
                    region,
                    "describe_instance_status",
                    "InstanceStatuses",
                    InstanceIds=sorted(seen),
                    IncludeAllInstances=True,
                )
            return list(seen.values()), statuses

        (instances, statuses), addresses, cgws, vpns = await _all_or_first_error(
            instances_and_status(),
            self.call("ec2", region, "describe_addresses"),
            self.call("ec2", region, "describe_customer_gateways"),
            self.call("ec2", region, "describe_vpn_connections"),
        )
        return discover(
            selectors,
            RegionResponses(
                instances=instances,
                statuses=statuses,
                addresses=addresses.get("Addresses", []),
                customer_gateways=cgws.get("CustomerGateways", []),
                vpn_connections=vpns.get("VpnConnections", []),
            ),
        )

    async def observe(self, selectors: Sequence[RouterSelector]) -> ObservedAws:
        """All regions concurrently. A failed region → its routers' views carry the error."""
        by_region: dict[str, list[RouterSelector]] = {}
        for sel in selectors:
            by_region.setdefault(sel.region, []).append(sel)
        regions = sorted(by_region)
        results = await asyncio.gather(
            *(self.fetch_region(r, by_region[r]) for r in regions), return_exceptions=True
        )
        views: dict[str, RouterAwsView] = {}
        errors: list[tuple[str, str]] = []
        for region, result in zip(regions, results, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, Exception):
                    raise result
                reason = _region_error(region, result)
                errors.append(("parse" if isinstance(result, ParseError) else "aws", reason))
                for sel in by_region[region]:
                    views[sel.name] = RouterAwsView(sel.name, region, None, None, (), error=reason)
            else:
                views.update(result)
        return ObservedAws(views=views, errors=tuple(errors))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


async def _all_or_first_error(*calls: Awaitable[Any]) -> list[Any]:
    """Like gather, but when one call fails the others still finish first (bounded by their
    own timeouts): a failed region never leaves a call running into the next cycle."""
    results = await asyncio.gather(*calls, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


def _region_error(region: str, exc: Exception) -> str:
    if isinstance(exc, botocore.exceptions.ClientError | botocore.exceptions.BotoCoreError):
        return f"aws {region}: {describe_error(exc)}"
    return f"aws {region}: {redact(str(exc))}"


def _flatten(page: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    if key == "Instances":  # DescribeInstances nests instances in reservations
        return [i for r in page.get("Reservations", []) for i in r.get("Instances", [])]
    items: list[Mapping[str, Any]] = page.get(key, [])
    return items


def _session_for(endpoint_url: str | None) -> boto3.session.Session:
    """A loopback emulator needs no real credentials: never go looking for them there."""
    session = boto3.session.Session()
    if endpoint_url and is_loopback_url(endpoint_url) and session.get_credentials() is None:
        return boto3.session.Session(
            aws_access_key_id="emulator",
            aws_secret_access_key="emulator",  # noqa: S106
        )
    return session
