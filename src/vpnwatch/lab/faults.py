"""Fault injection for the emulated AWS: errors and latency per API action, over real HTTP.

A rule names an API action (EC2 `DescribeVpnConnections`, DynamoDB `PutItem`, S3 `PutObject`,
...), an error code and HTTP status, how many requests it hits (-1 = forever) and an added
delay. A delay-only rule (no code) slows the request down and then lets it through.
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qs

from vpnwatch.lab.safety import LabError

WsgiEnviron = dict[str, Any]
StartResponse = Callable[..., Any]
WsgiApp = Callable[[WsgiEnviron, StartResponse], Iterable[bytes]]

MAX_DELAY_SECONDS = 300.0
_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9.]{0,99}$")
_ACTION = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,99}$")
_CREDENTIAL_SCOPE = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
# EC2 "Error codes": capacity errors are server errors (5xx); limits are client errors.
_SERVER_ERRORS = {
    "InternalError": 500, "InternalFailure": 500, "InsufficientInstanceCapacity": 500,
    "InsufficientAddressCapacity": 500, "InsufficientCapacity": 500,
    "InsufficientHostCapacity": 500,
    "InternalServerError": 500,  # DynamoDB's 5xx
}  # fmt: skip
_UNAVAILABLE = {"ServiceUnavailable", "Unavailable", "RequestLimitExceeded", "SlowDown"}
_CODE_OF_STATUS = {500: "InternalError", 503: "ServiceUnavailable"}


@dataclass(frozen=True)
class AwsRequest:
    """What the fault layer and the world need to know about one AWS API request."""

    service: str | None  # from the SigV4 credential scope, e.g. "ec2", "s3", "dynamodb"
    region: str | None
    action: str | None
    params: Mapping[str, str] = field(default_factory=dict)  # query-protocol params (EC2)
    access_key: str | None = None  # the signing access key id (SigV4 credential)


@dataclass(frozen=True)
class ApiCall:
    """A finished AWS API call, as an after-hook sees it (not sent to the client yet)."""

    request: AwsRequest
    status: int
    body: bytes
    status_line: str = ""  # e.g. "200 OK"; "" → built from `status`
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class InjectedError:
    """What a before-hook returns to fail a request the way AWS would."""

    code: str
    status: int
    message: str


@dataclass(frozen=True)
class CannedAnswer:
    """What a before-hook returns to answer a request itself (moto never sees it)."""

    body: bytes
    status_line: str = "200 OK"
    content_type: str = "text/xml;charset=UTF-8"


BeforeHook = Callable[[AwsRequest], InjectedError | CannedAnswer | None]
# An after-hook may return a new response body (same status); None keeps moto's.
AfterHook = Callable[[ApiCall], bytes | None]


@dataclass(frozen=True)
class FaultRule:
    """One injected fault. `count` is what is left (-1 = forever); `hits` what it has done."""

    id: int
    action: str
    code: str | None  # None → delay-only
    status: int | None
    count: int
    delay: float
    hits: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "action": self.action,
            "code": self.code,
            "status": self.status,
            "count": self.count,
            "delay": self.delay,
            "hits": self.hits,
        }


def default_status(code: str) -> int:
    """The HTTP status AWS uses for an error code: 5xx for server-side trouble, else 400."""
    if code in _SERVER_ERRORS:
        return _SERVER_ERRORS[code]
    if code in _UNAVAILABLE:
        return 503
    return 400


def make_rule(
    rule_id: int,
    action: str,
    code: str | None,
    status: int | None,
    count: int,
    delay: float,
) -> FaultRule:
    """A validated rule, or LabError with the one thing that is wrong."""
    if not _ACTION.match(action):
        raise LabError(f"fault action {action!r} is not an API action name like DescribeInstances")
    if code is not None and not _CODE.match(code):
        raise LabError(f"fault code {code!r} is not an AWS error code like RequestLimitExceeded")
    if status is not None and not 400 <= status <= 599:
        raise LabError(f"fault status {status} is not an HTTP error status (400-599)")
    if count == 0 or count < -1:
        raise LabError(f"fault count {count} must be a positive number or -1 (forever)")
    if not 0.0 <= delay <= MAX_DELAY_SECONDS:
        raise LabError(f"fault delay {delay} must be between 0 and {MAX_DELAY_SECONDS:g} seconds")
    if code is None and status is not None:
        code = _CODE_OF_STATUS.get(status, "InjectedFault")
    if code is None and delay == 0.0:
        raise LabError("a fault needs an error code, a status or a delay")
    if code is not None and status is None:
        status = default_status(code)
    return FaultRule(rule_id, action, code, status, count, float(delay))


class FaultInjector:
    """The active rules. Thread-safe: werkzeug serves each request in its own thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._next_id = 1

    def add(
        self,
        action: str,
        code: str | None = None,
        status: int | None = None,
        count: int = 1,
        delay: float = 0.0,
    ) -> FaultRule:
        with self._lock:
            rule = make_rule(self._next_id, action, code, status, count, delay)
            self._next_id += 1
            self._rules.append(rule)
            return rule

    def clear(self, action: str | None = None) -> int:
        """Remove every rule (or those for one action); returns how many were removed."""
        with self._lock:
            keep = [r for r in self._rules if action is not None and r.action != action]
            removed = len(self._rules) - len(keep)
            self._rules = keep
            return removed

    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def take(self, action: str | None) -> FaultRule | None:
        """Consume one hit of the first rule for this action (rules run out in order)."""
        if action is None:
            return None
        with self._lock:
            for index, rule in enumerate(self._rules):
                if rule.action != action:
                    continue
                left = rule.count - 1 if rule.count > 0 else -1
                used = replace(rule, count=left, hits=rule.hits + 1)
                if left == 0:
                    del self._rules[index]
                else:
                    self._rules[index] = used
                return used
        return None


# ---------------------------------------------------------------- reading requests


def _s3_action(method: str, path: str, query: Mapping[str, list[str]], copy: bool) -> str:
    """Best-effort S3 operation name from a path-style REST request."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2:  # an object
        if method == "PUT":
            return "CopyObject" if copy else "PutObject"
        return {"GET": "GetObject", "HEAD": "HeadObject", "DELETE": "DeleteObject"}.get(
            method, method
        )
    if not parts:
        return "ListBuckets"
    if method == "GET":
        if "versions" in query:
            return "ListObjectVersions"
        return "ListObjectsV2" if query.get("list-type") == ["2"] else "ListObjects"
    for sub, name in (("versioning", "BucketVersioning"), ("encryption", "BucketEncryption")):
        if sub in query:
            return ("Put" if method == "PUT" else "Get") + name
    return {"PUT": "CreateBucket", "HEAD": "HeadBucket", "DELETE": "DeleteBucket"}.get(
        method, method
    )


_JSON_BODY_LIMIT = 1024 * 1024


def _dynamodb_params(environ: WsgiEnviron) -> dict[str, str]:
    """The tables a DynamoDB request names (for the IAM gate), read from its JSON body,
    which is put back for moto: `TableName`, and per TransactWriteItems item
    `TransactItems.N.Kind` (Put, Update, Delete, ConditionCheck) and `.TableName`."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if 0 < length <= _JSON_BODY_LIMIT else b""
    if body:
        environ["wsgi.input"] = io.BytesIO(body)
    try:
        data = json.loads(body) if body else {}
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    params: dict[str, str] = {}
    if isinstance(data.get("TableName"), str):
        params["TableName"] = data["TableName"]
    items = data.get("TransactItems")
    for n, item in enumerate(items if isinstance(items, list) else [], start=1):
        for kind, part in item.items() if isinstance(item, dict) else ():
            if isinstance(part, dict) and isinstance(part.get("TableName"), str):
                params[f"TransactItems.{n}.Kind"] = str(kind)
                params[f"TransactItems.{n}.TableName"] = part["TableName"]
    return params


def read_request(environ: WsgiEnviron) -> AwsRequest:
    """Classify a request; a form body is read and put back so moto still sees it."""
    scope = _CREDENTIAL_SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    key, region, service = (
        (scope.group(1), scope.group(2), scope.group(3)) if scope else (None,) * 3
    )
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:  # JSON protocols (DynamoDB, ...)
        params = _dynamodb_params(environ) if service == "dynamodb" else {}
        return AwsRequest(service, region, target.rsplit(".", 1)[-1], params, access_key=key)
    path = environ.get("PATH_INFO", "/")
    if "/operation/" in path:  # rpc-v2-cbor (CloudWatch)
        return AwsRequest(service, region, path.rsplit("/", 1)[-1], access_key=key)
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    if service == "s3":
        copy = "HTTP_X_AMZ_COPY_SOURCE" in environ
        action = _s3_action(environ["REQUEST_METHOD"], path, query, copy)
        return AwsRequest(service, region, action, access_key=key)
    form: dict[str, list[str]] = {}
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        environ["wsgi.input"] = io.BytesIO(body)
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    params = {k: v[0] for k, v in {**query, **form}.items() if v}
    return AwsRequest(service, region, params.get("Action"), params, access_key=key)


# ---------------------------------------------------------------- error responses


def error_response(
    request: AwsRequest, environ: WsgiEnviron, code: str, status: int, message: str
) -> tuple[str, list[tuple[str, str]], bytes]:
    """(status line, headers, body) of an AWS error in the protocol the caller speaks."""
    request_id = str(uuid.uuid4())
    headers = [("x-amzn-ErrorType", code), ("x-amzn-RequestId", request_id)]
    if environ.get("HTTP_X_AMZ_TARGET"):
        body = json.dumps({"__type": code, "message": message}).encode()
        headers.append(("Content-Type", "application/x-amz-json-1.0"))
    elif "/operation/" in environ.get("PATH_INFO", ""):
        body = b""  # rpc-v2-cbor: botocore takes the code from x-amzn-ErrorType
        headers.append(("smithy-protocol", "rpc-v2-cbor"))
    elif request.service == "s3":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{message}</Message>"
            f"<RequestId>{request_id}</RequestId></Error>"
        ).encode()
        headers.append(("Content-Type", "application/xml"))
    else:  # EC2 query protocol
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message>"
            f"</Error></Errors><RequestID>{request_id}</RequestID></Response>"
        ).encode()
        headers.append(("Content-Type", "text/xml;charset=UTF-8"))
    headers.append(("Content-Length", str(len(body))))
    return f"{status} Injected Fault", headers, body


def refuse(
    request: AwsRequest,
    environ: WsgiEnviron,
    start_response: StartResponse,
    answer: InjectedError | CannedAnswer,
) -> Iterable[bytes]:
    """Answer with what a before-hook chose: an error as AWS would word it, or a canned body."""
    if isinstance(answer, CannedAnswer):
        headers = [("Content-Type", answer.content_type), ("Content-Length", str(len(answer.body)))]
        start_response(answer.status_line, headers)
        return [answer.body]
    status, headers, body = error_response(
        request, environ, answer.code, answer.status, answer.message
    )
    start_response(status, headers)
    return [body]


def apply_fault(
    injector: FaultInjector,
    request: AwsRequest,
    environ: WsgiEnviron,
    start_response: StartResponse,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterable[bytes] | None:
    """Run the matching rule: sleep, then an error body, or None to let the request through."""
    rule = injector.take(request.action)
    if rule is None:
        return None
    if rule.delay > 0:
        sleep(rule.delay)
    if rule.code is None or rule.status is None:
        return None
    message = f"Injected by the vpnwatch lab (fault rule {rule.id})."
    status, headers, body = error_response(request, environ, rule.code, rule.status, message)
    start_response(status, headers)
    return [body]


def call_and_capture(app: WsgiApp, request: AwsRequest, environ: WsgiEnviron) -> ApiCall:
    """Run the wrapped app and keep its status, headers and whole body; nothing is sent yet,
    so after-hooks may still replace the body (`send` does the sending)."""
    captured: dict[str, Any] = {}

    def capture(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
        captured["status"], captured["headers"] = status, tuple(headers)
        return lambda data: None  # the legacy write() callable: moto never uses it

    chunks = app(environ, capture)
    try:
        body = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    line = str(captured.get("status", "500 Internal Server Error"))
    return ApiCall(request, int(line.split()[0]), body, line, captured.get("headers", ()))


def send(call: ApiCall, start_response: StartResponse) -> Iterable[bytes]:
    """Start the response of a captured call, with a Content-Length that fits its body."""
    headers = [(k, v) for k, v in call.headers if k.lower() != "content-length"]
    headers.append(("Content-Length", str(len(call.body))))
    start_response(call.status_line or f"{call.status} Lab", headers)
    return [call.body]
