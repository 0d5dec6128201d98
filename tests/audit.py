"""The audit trail as the daemon wrote it (JSON lines)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def audit_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
