"""The emulated AWS's server: werkzeug on loopback in a daemon thread, and the lab's other
background loops. One per process: moto keeps its state in process-wide globals."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from moto.moto_server.werkzeug_app import MotoRequestHandler
from werkzeug.serving import make_server

from vpnwatch.lab.safety import LabError, url_for

_active_lock = threading.Lock()
_active: object | None = None


class _QuietHandler(MotoRequestHandler):
    """moto's handler without one access-log line per request."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


def claim_process(owner: object) -> None:
    """Only one emulated AWS per process; LabError if another one runs."""
    global _active
    with _active_lock:
        if _active is not None and _active is not owner:
            raise LabError("an EmulatedAws already runs in this process (moto is global)")
        _active = owner


def release_process(owner: object) -> None:
    global _active
    with _active_lock:
        if _active is owner:
            _active = None


class LabServer:
    def __init__(self, host: str, port: int, app: Callable[..., Any]) -> None:
        self._server = make_server(host, port, app, threaded=True, request_handler=_QuietHandler)
        self._threads: list[threading.Thread] = []
        self.stopping = threading.Event()
        self.endpoint = url_for(host, self._server.server_port)

    def start(self) -> str:
        self.spawn("vpnwatch-lab-aws", lambda: self._server.serve_forever(poll_interval=0.1))
        return self.endpoint

    def spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        """Stop serving and join the threads."""
        self.stopping.set()
        self._server.shutdown()
        for thread in self._threads:
            thread.join(timeout=10)
        self._server.server_close()
        self._threads.clear()
