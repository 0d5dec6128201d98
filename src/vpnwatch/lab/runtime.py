"""Finding and talking to a running lab world from another process.

A running world publishes `world-<pid>.json` in the runtime directory:
`$XDG_RUNTIME_DIR/vpnwatch-lab`, else `/tmp/vpnwatch-lab-<uid>` (no VPNWATCH_* variable:
those are the daemon's config overrides). The file is removed when the world stops.
Light on imports: no moto, no boto3 (`vpnwatch lab state|tunnel|aws-fault` start fast).
"""

from __future__ import annotations

import json
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from vpnwatch.lab.safety import LabError, require_loopback_url

RECORD_VERSION = 1


@dataclass(frozen=True)
class RuntimeRecord:
    """What `world-<pid>.json` holds (JSON keys = field names)."""

    pid: int
    endpoint_url: str
    config_path: str
    state_dir: str
    region: str
    started_at: str  # ISO 8601, UTC
    routers: int
    vpn_connections: int
    tunnels: int
    version: int = RECORD_VERSION


def runtime_dir(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    xdg = env.get("XDG_RUNTIME_DIR")
    if xdg and Path(xdg).is_dir():
        return Path(xdg) / "vpnwatch-lab"
    return Path(tempfile.gettempdir()) / f"vpnwatch-lab-{os.getuid()}"


def write_record(record: RuntimeRecord, directory: Path | None = None) -> Path:
    """Publish the record (atomically, owner-only); returns the file's path."""
    folder = directory or runtime_dir()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if folder.stat().st_uid != os.getuid():  # a shared /tmp: never write into another's dir
        raise LabError(f"{folder} belongs to another user; set XDG_RUNTIME_DIR")
    path = folder / f"world-{record.pid}.json"
    tmp = folder / f".world-{record.pid}.json.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(asdict(record), out, indent=2)
        out.write("\n")
    tmp.replace(path)
    return path


def remove_record(path: Path) -> None:
    path.unlink(missing_ok=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _load(path: Path) -> RuntimeRecord | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") != RECORD_VERSION:
            return None
        return RuntimeRecord(**data)
    except (OSError, ValueError, TypeError, AttributeError):
        return None


def running_worlds(directory: Path | None = None) -> list[RuntimeRecord]:
    """Records of worlds whose process is alive (stale files are ignored)."""
    folder = directory or runtime_dir()
    if not folder.is_dir():
        return []
    found = [_load(p) for p in sorted(folder.glob("world-*.json"))]
    return [r for r in found if r is not None and _pid_alive(r.pid)]


def the_running_world(directory: Path | None = None) -> RuntimeRecord:
    """The one running world, or LabError saying there is none or several."""
    folder = directory or runtime_dir()
    worlds = running_worlds(folder)
    if not worlds:
        raise LabError(
            f"no running lab world found in {folder}; start one with `vpnwatch lab serve` "
            "or pass --config"
        )
    if len(worlds) > 1:
        pids = ", ".join(str(w.pid) for w in worlds)
        raise LabError(f"several lab worlds are running (pids {pids}); pick one with --config")
    return worlds[0]


def endpoint_from_config(path: Path) -> str:
    """`aws.endpoint_url` of a config file (loopback only), or LabError saying what is wrong."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise LabError(f"{path}: cannot read the config ({exc.strerror})") from None
    except yaml.YAMLError:
        raise LabError(f"{path}: not valid YAML") from None
    aws = data.get("aws") if isinstance(data, dict) else None
    url = aws.get("endpoint_url") if isinstance(aws, dict) else None
    if not isinstance(url, str) or not url:
        raise LabError(f"{path}: aws.endpoint_url is not set, so this is not a lab world's config")
    return require_loopback_url(url)


class ControlClient:
    """The control API (`/_lab/...`) of a running world, over HTTP on loopback."""

    def __init__(self, endpoint_url: str, timeout: float = 10.0) -> None:
        self.endpoint_url = require_loopback_url(endpoint_url).rstrip("/")
        self.timeout = timeout

    def request(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(  # loopback http only, checked in __init__
            self.endpoint_url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            raise LabError(f"lab world refused {method} {path}: {_error_text(exc)}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise LabError(f"cannot reach the lab world at {self.endpoint_url}: {reason}") from None

    def state(self) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", "/_lab/state")
        return result

    def add_fault(
        self,
        action: str,
        code: str | None = None,
        status: int | None = None,
        count: int = 1,
        delay: float = 0.0,
    ) -> dict[str, Any]:
        body = {"action": action, "code": code, "status": status, "count": count, "delay": delay}
        result: dict[str, Any] = self.request("POST", "/_lab/faults", body)["fault"]
        return result

    def clear_faults(self, action: str | None = None) -> int:
        return int(self.request("DELETE", "/_lab/faults", {"action": action})["cleared"])

    def set_tunnel(self, vpn_id: str, outside_ip: str, status: str | None) -> dict[str, Any]:
        body = {"vpn_id": vpn_id, "outside_ip": outside_ip, "status": status}
        result: dict[str, Any] = self.request("POST", "/_lab/tunnels", body)["tunnel"]
        return result

    def routers(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.request("GET", "/_lab/routers")["routers"]
        return result

    def router_fault(
        self, router: str, kind: str, *, clear: bool = False, delay: float | None = None
    ) -> dict[str, Any]:
        """Set (or clear) a fault on a simulated router; kind "all" with clear clears all."""
        body = {"router": router, "kind": kind, "clear": clear, "delay": delay}
        result: dict[str, Any] = self.request("POST", "/_lab/routers/fault", body)["router"]
        return result

    def impair(self, router: str) -> str:
        """The router's host breaks (status checks fail until stop and start)."""
        return str(self.request("POST", "/_lab/routers/impair", {"router": router})["instance_id"])

    def doom_next_launch(self, router: str, code: str, message: str) -> None:
        body = {"router": router, "code": code, "message": message}
        self.request("POST", "/_lab/routers/doom-launch", body)

    def tamper_next_console(self, router: str) -> None:
        self.request("POST", "/_lab/routers/tamper-console", {"router": router})


def _error_text(exc: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(exc.read())["error"])
    except (ValueError, KeyError, TypeError, OSError):
        return f"HTTP {exc.code}"
