"""The asyncio HTTP server for /metrics, /healthz and /readyz (no extra thread).

Requests are parsed by h11 (a well-kept HTTP/1.1 parser); this module adds what a port
open to scanners needs, each rule tested in tests/core/test_httpserver.py:
- one request per connection (`Connection: close`); only GET and HEAD (405, with Allow);
  a request body is never read (413 for GET/HEAD, 405 for other methods) and what the
  client still sends is drained for a bounded time after the answer, so it gets the answer
  instead of a reset;
- malformed requests 400, headers over 8 KiB 431, HTTP other than 1.x 505;
- the request head must arrive within `head_timeout` (slowloris: 408, then closed); an
  answer must be written within `write_timeout`;
- at most `max_connections` at once: a new connection first evicts the oldest one still
  sending its head (a slow client cannot lock out a scrape), otherwise it gets 503;
- one log line per bad request, at most `log_burst` per `log_window` seconds (then one line
  saying how many were not logged); never a traceback, never the client's bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import h11
import structlog
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

_MAX_HEAD = 8192
_READ_CHUNK = 4096
_TEXT = "text/plain; charset=utf-8"
_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    413: "Content Too Large",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
    505: "HTTP Version Not Supported",
}


@dataclass
class _Answer:
    status: int
    body: bytes
    content_type: str = _TEXT
    headers: tuple[tuple[str, str], ...] = ()
    head_only: bool = False  # HEAD: headers with the body's length, no body

    def encode(self) -> bytes:
        lines = [
            f"HTTP/1.1 {self.status} {_REASONS[self.status]}",
            f"Content-Type: {self.content_type}",
            f"Content-Length: {len(self.body)}",
            "Connection: close",
            *(f"{name}: {value}" for name, value in self.headers),
        ]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")
        return head if self.head_only else head + self.body


class _BadRequest(Exception):
    def __init__(self, status: int, kind: str) -> None:
        super().__init__(kind)
        self.status, self.kind = status, kind


@dataclass
class _Client:
    writer: asyncio.StreamWriter
    opened: float
    phase: str = "head"  # head → answer → drain (answered, draining what the client sends)


@dataclass
class _LogLimiter:
    """At most `burst` lines per `window` seconds; then one line with the count left out."""

    burst: int
    window: float
    clock: Callable[[], float]
    started: float = float("-inf")
    used: int = 0
    dropped: int = 0
    log: Any = field(default=None)

    def emit(self, event: str, **fields: Any) -> None:
        now = self.clock()
        if now - self.started >= self.window:
            if self.dropped:
                self.log.warning("http.bad_requests_not_logged", count=self.dropped)
            self.started, self.used, self.dropped = now, 0, 0
        if self.used < self.burst:
            self.used += 1
            self.log.warning(event, **fields)
        else:
            self.dropped += 1


class MetricsServer:
    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        host: str,
        port: int,
        healthy: Callable[[], bool],
        ready: Callable[[], bool],
        max_connections: int = 64,
        head_timeout: float = 5.0,
        write_timeout: float = 10.0,
        linger: float = 2.0,
        log_burst: int = 10,
        log_window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        log: Any = None,
    ) -> None:
        self._registry = registry
        self._host = host
        self._port = port
        self._healthy = healthy
        self._ready = ready
        self._max_connections = max_connections
        self._head_timeout = head_timeout
        self._write_timeout = write_timeout
        self._linger = linger
        self._clock = clock
        self._log = log if log is not None else structlog.get_logger("vpnwatch.http")
        self._limiter = _LogLimiter(log_burst, log_window, clock, log=self._log)
        self._clients: dict[asyncio.Task[Any], _Client] = {}
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self._host, self._port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task, client in list(self._clients.items()):
                client.writer.transport.abort()
                task.cancel()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
            self._server = None

    # ---------------------------------------------------------------- connections

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One connection, one request, one answer. Never raises, never logs a traceback."""
        task = asyncio.current_task()
        assert task is not None
        if not self._admit():
            await self._close(writer, self._bad(writer, 503, "connection limit reached"))
            return
        client = self._clients[task] = _Client(writer, self._clock())
        try:
            answer = await self._serve(reader, writer, client)
            if answer is None:
                writer.transport.abort()
            else:
                await self._close(writer, answer, reader, client)
        except asyncio.CancelledError:  # evicted, or the server stops
            writer.transport.abort()
        except Exception as exc:  # a bug: its type only, the client's bytes may be anything
            self._limiter.emit("http.internal_error", error=type(exc).__name__)
            writer.transport.abort()
        finally:
            self._clients.pop(task, None)

    def _admit(self) -> bool:
        """Room for one more connection: evict an answered one still draining, else the
        oldest one still sending its head; None of those → no room."""
        if len(self._clients) < self._max_connections:
            return True
        rank = {"drain": 0, "head": 1}
        candidates = [
            (rank[c.phase], c.opened, t) for t, c in self._clients.items() if c.phase in rank
        ]
        if not candidates:
            return False
        *_, victim = min(candidates, key=lambda item: (item[0], item[1]))
        evicted = self._clients.pop(victim)
        evicted.writer.transport.abort()
        victim.cancel()
        return True

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, client: _Client
    ) -> _Answer | None:
        try:
            async with asyncio.timeout(self._head_timeout):
                request = await self._read_head(reader)
        except TimeoutError:
            return self._bad(writer, 408, "request head not received in time")
        except _BadRequest as bad:
            return self._bad(writer, bad.status, bad.kind)
        except (ConnectionError, asyncio.IncompleteReadError):
            return None
        client.phase = "answer"
        if request is None:  # closed before sending anything
            return None
        return await self._answer(writer, request)

    async def _read_head(self, reader: asyncio.StreamReader) -> h11.Request | None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=_MAX_HEAD)
        received = 0
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                status = exc.error_status_hint if exc.error_status_hint in _REASONS else 400
                raise _BadRequest(status, "malformed request") from None
            if event is h11.NEED_DATA:
                data = await reader.read(_READ_CHUNK)
                received += len(data)
                conn.receive_data(data)
            elif isinstance(event, h11.Request):
                # h11 bounds an incomplete head only: a big one that came at once counts too
                if received - len(conn.trailing_data[0]) > _MAX_HEAD:
                    raise _BadRequest(431, "request head over 8 KiB")
                return event
            else:  # ConnectionClosed before a request
                return None

    async def _answer(self, writer: asyncio.StreamWriter, request: h11.Request) -> _Answer:
        method = request.method.decode("ascii", "replace")
        if request.http_version not in (b"1.0", b"1.1"):
            return self._bad(writer, 505, "unsupported HTTP version")
        has_body = any(
            (name == b"content-length" and value.strip() != b"0") or name == b"transfer-encoding"
            for name, value in request.headers
        )
        if method not in ("GET", "HEAD"):
            answer = self._bad(writer, 405, "method not allowed")
            answer.headers = (("Allow", "GET, HEAD"),)
            return answer
        if has_body:
            return self._bad(writer, 413, "request with a body")
        path = request.target.split(b"?", 1)[0].decode("ascii", "replace")
        answer = await self._route(path)
        answer.head_only = method == "HEAD"
        return answer

    async def _route(self, path: str) -> _Answer:
        if path == "/metrics":
            # Rendering reads only the immutable latest snapshot: safe off the loop.
            body = await asyncio.to_thread(generate_latest, self._registry)
            return _Answer(200, body, CONTENT_TYPE_LATEST)
        if path == "/healthz":
            ok = self._healthy()
            return _Answer(200 if ok else 503, b"ok\n" if ok else b"stalled\n")
        if path == "/readyz":
            ok = self._ready()
            return _Answer(200 if ok else 503, b"ready\n" if ok else b"not ready\n")
        return _Answer(404, b"not found\n")

    def _bad(self, writer: asyncio.StreamWriter, status: int, kind: str) -> _Answer:
        peer = writer.get_extra_info("peername")
        client = peer[0] if isinstance(peer, tuple) and peer else "unknown"
        self._limiter.emit("http.bad_request", status=status, problem=kind, client=client)
        return _Answer(status, f"{_REASONS[status].lower()}\n".encode())

    async def _close(
        self,
        writer: asyncio.StreamWriter,
        answer: _Answer,
        reader: asyncio.StreamReader | None = None,
        client: _Client | None = None,
    ) -> None:
        """Write the answer, half-close, drain what the client still sends (bounded), close."""
        try:
            async with asyncio.timeout(self._write_timeout):
                writer.write(answer.encode())
                await writer.drain()
                if writer.can_write_eof():
                    writer.write_eof()
            if client is not None:
                client.phase = "drain"
            if reader is not None:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._linger):
                        while await reader.read(65536):
                            pass
        except (TimeoutError, ConnectionError, OSError):
            writer.transport.abort()
            return
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
