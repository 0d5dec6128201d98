"""Small JSON state files, written atomically (temp file + fsync + rename), mode 0600."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=True)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def read_json(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return default


class FleetState:
    """What healing changed about the fleet: current instance per router, trusted host keys."""

    def __init__(self, state_dir: Path) -> None:
        self._path = state_dir / "fleet.json"
        data = read_json(self._path, {})
        self.instances: dict[str, str] = dict(data.get("instances", {}))
        self.host_keys: dict[str, str] = dict(data.get("host_keys", {}))

    def save(self) -> None:
        write_json_atomic(self._path, {"instances": self.instances, "host_keys": self.host_keys})

    def reload(self) -> None:
        """Pick up what another process (a hand-triggered `vpnwatch heal`) wrote."""
        data = read_json(self._path, {})
        self.instances = dict(data.get("instances", {}))
        self.host_keys = dict(data.get("host_keys", {}))

    def replaced(self, router: str, instance_id: str, host_key: str | None) -> None:
        self.reload()  # never overwrite another router's newer entry with a stale copy
        self.instances[router] = instance_id
        if host_key:
            self.host_keys[router] = host_key
        self.save()
