"""`vpnwatch run`: the daemon process around the loop (metrics server, signals, reload).

SIGTERM/SIGINT stop it (a cycle in flight is cancelled, a heal stays resumable); SIGUSR1
toggles the operator's pause (a stored request, as `vpnwatch pause|resume` writes, taken by
whoever leads); SIGHUP reloads the config file (`service/reload.py`).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
from pathlib import Path
from typing import Any

from vpnwatch import __version__
from vpnwatch.config import Config, redacted
from vpnwatch.core.records import OperatorRequest
from vpnwatch.httpserver import MetricsServer
from vpnwatch.logs import configure_logging
from vpnwatch.service.reload import reloaded
from vpnwatch.service.wiring import Service, build_service
from vpnwatch.vocabulary import RequestKind


def signal_request(service: Service, now: float) -> OperatorRequest:
    """SIGUSR1: pause if not paused by request, else resume."""
    kind = RequestKind.RESUME if service.loop.memory.paused else RequestKind.PAUSE
    who = f"SIGUSR1 to {socket.gethostname()} pid {os.getpid()}"
    return OperatorRequest(f"{kind}-{int(now)}-{secrets.token_hex(3)}", kind, now, who)


def _reload(service: Service, path: Path, log: Any) -> None:
    service.loop.notifier.reloading()
    new, message = reloaded(path, service.config())
    if new is None and "refused" in message:
        log.error(message)
    elif new is None:
        log.info(message)
    else:
        service.config.value = new
        configure_logging(new.logging.format, new.logging.level)
        if service.rehearsals is not None:  # the fix may be in the config: check it now
            service.rehearsals.rehearse_all_soon()
        log.warning(message)
    service.loop.notifier.ready()


async def run_daemon(path: Path, config: Config, log: Any) -> int:
    log.info("starting", version=__version__, pid=os.getpid(), config=redacted(config))
    service = build_service(config, log)
    server = MetricsServer(
        service.registry,
        host=config.metrics.host,
        port=config.metrics.port,
        healthy=service.loop.healthy,
        ready=service.loop.ready,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(
        signal.SIGUSR1,
        lambda: service.store.submit(signal_request(service, service.loop.clock())),
    )
    loop.add_signal_handler(signal.SIGHUP, lambda: _reload(service, path, log))
    try:
        if service.backups is not None:  # a router that is dead at start can still be restored
            await service.backups.load([r.name for s in config.sites for r in s.routers])
        try:
            await server.start()
        except OSError as exc:
            log.error("cannot listen", listen=config.metrics.listen, error=str(exc.strerror))
            return 2
        log.info("metrics listening", listen=f"{config.metrics.host}:{server.port}")
        await service.loop.run(stop)
    finally:
        log.info("stopping")
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        await server.stop()
        await service.close()
    return 0
