"""The lab's control API: JSON over HTTP under `/_lab/`, on the emulated AWS's own port, so a
separate process (`vpnwatch lab ...`, an e2e test) can drive the world."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from vpnwatch.lab.faults import StartResponse, WsgiEnviron
from vpnwatch.lab.safety import LabError

PREFIX = "/_lab/"
MAX_BODY_BYTES = 1 << 20


@dataclass(frozen=True)
class ControlRequest:
    method: str
    path: str
    query: Mapping[str, str]
    body: Any  # parsed JSON, {} when there was none


class ControlError(LabError):
    """A control request that cannot be served; becomes {"error": message} with `status`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


ControlHandler = Callable[[ControlRequest], Any]


def _reply(start_response: StartResponse, status: int, payload: Any) -> Iterable[bytes]:
    body = json.dumps(payload, default=str).encode() + b"\n"
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}
    start_response(
        f"{status} {reason.get(status, 'Error')}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]


def _read_json(environ: WsgiEnviron) -> Any:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length > MAX_BODY_BYTES:
        raise ControlError(400, "request body too large")
    raw = environ["wsgi.input"].read(length) if length > 0 else b""
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        raise ControlError(400, "request body is not JSON") from None


class ControlApi:
    """Routes (method, exact path) to handlers. Handlers return JSON-able values."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._routes: dict[tuple[str, str], ControlHandler] = {}

    def add_route(self, method: str, path: str, handler: ControlHandler) -> None:
        """Register (or replace) a handler; `path` must start with /_lab/."""
        if not path.startswith(PREFIX):
            raise LabError(f"control routes live under {PREFIX}, not {path!r}")
        with self._lock:
            self._routes[(method.upper(), path.rstrip("/"))] = handler

    def routes(self) -> list[tuple[str, str]]:
        with self._lock:
            return sorted(self._routes)

    def __call__(self, environ: WsgiEnviron, start_response: StartResponse) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"].upper()
        path = environ.get("PATH_INFO", "").rstrip("/")
        with self._lock:
            handler = self._routes.get((method, path))
            known_path = any(p == path for _, p in self._routes)
        if handler is None:
            status = 405 if known_path else 404
            return _reply(start_response, status, {"error": f"no route {method} {path}"})
        try:
            query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
            request = ControlRequest(method, path, query, _read_json(environ))
            return _reply(start_response, 200, handler(request))
        except ControlError as exc:
            return _reply(start_response, exc.status, {"error": str(exc)})
        except LabError as exc:
            return _reply(start_response, 400, {"error": str(exc)})


def field(body: Any, name: str, kind: type, *, required: bool = True, default: Any = None) -> Any:
    """One typed field of a JSON object body, or ControlError 400 naming it."""
    if not isinstance(body, dict):
        raise ControlError(400, "request body must be a JSON object")
    if name not in body or body[name] is None:
        if required:
            raise ControlError(400, f"missing field {name!r}")
        return default
    value = body[name]
    ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not ok:
        raise ControlError(400, f"field {name!r} must be {kind.__name__}")
    return value
