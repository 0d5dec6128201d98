"""What GetConsoleOutput returns for each simulated instance, as EC2 does it.

EC2 API reference, GetConsoleOutput: "By default, the console output returns buffered
information that was posted shortly after an instance transition state ... You can
optionally retrieve the latest serial console output at any time during the instance
lifecycle. This option is supported on instance types that use the Nitro hypervisor."
Only the most recent 64 KB are kept.

Lines are stamped with the world's monotonic clock when the instance prints them. With
Latest (Nitro only) a caller sees every line printed so far; without it, only the lines
printed at least `delay` seconds ago (the buffered post), and nothing before the first post.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from xml.sax.saxutils import escape

MAX_CONSOLE_BYTES = 64 * 1024
_NS = "http://ec2.amazonaws.com/doc/2016-11-15/"


def console_response(instance_id: str, text: str | None, now: datetime) -> bytes:
    """A GetConsoleOutput answer; no <output> while nothing is posted yet (as AWS does)."""
    output = "" if text is None else f"<output>{base64.b64encode(text.encode()).decode()}</output>"
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<GetConsoleOutputResponse xmlns="{_NS}">'
        f"<requestId>vpnwatch-lab</requestId><instanceId>{escape(instance_id)}</instanceId>"
        f"<timestamp>{now.strftime('%Y-%m-%dT%H:%M:%S.000Z')}</timestamp>{output}"
        "</GetConsoleOutputResponse>"
    ).encode()


@dataclass
class _Console:
    lines: list[tuple[float, str]] = field(default_factory=list)


class ConsoleBook:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._consoles: dict[str, _Console] = {}

    def known(self, instance_id: str) -> bool:
        with self._lock:
            return instance_id in self._consoles

    def start(self, instance_id: str) -> None:
        with self._lock:
            self._consoles.setdefault(instance_id, _Console())

    def print(self, instance_id: str, lines: Sequence[str], at: float) -> None:
        with self._lock:
            console = self._consoles.setdefault(instance_id, _Console())
            console.lines.extend((at, line) for line in lines)

    def text(self, instance_id: str, now: float, *, delay: float = 0.0) -> str | None:
        """The output printed up to `now - delay` (None: nothing posted yet)."""
        with self._lock:
            console = self._consoles.get(instance_id)
            lines = [line for t, line in console.lines if t <= now - delay] if console else []
        if not lines:
            return None
        data = ("\n".join(lines) + "\n").encode()
        return data[-MAX_CONSOLE_BYTES:].decode("utf-8", "ignore")

    def forget(self) -> None:
        with self._lock:
            self._consoles.clear()
